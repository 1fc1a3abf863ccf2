from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from shared.contracts import (
    ServiceDeploymentCreate,
    ServiceDeploymentRead,
    ServiceDeploymentUpdate,
)
from shared.permissions import DEPLOYMENTS_READ, DEPLOYMENTS_WRITE

from api.auth.principal import Principal, requires
from api.db import SessionDep
from api.deployments import service
from api.errors import error_responses
from api.ids import IdFilter, IdPath
from api.pagination import PageDep

router = APIRouter(
    prefix="/api/service-deployments",
    tags=["service-deployments"],
    responses=error_responses(401, 403, 422, 503),
)

DeploymentsWrite = Annotated[Principal, requires(DEPLOYMENTS_WRITE)]
DeploymentsRead = Annotated[Principal, requires(DEPLOYMENTS_READ)]


@router.post(
    "", status_code=201, response_model=ServiceDeploymentRead, responses=error_responses(403)
)
async def record_service_deployment(
    body: ServiceDeploymentCreate, session: SessionDep, principal: DeploymentsWrite
) -> ServiceDeploymentRead:
    """Record a deployment. Service keys only."""
    deployment = await service.record_deployment(session, principal, body)
    return ServiceDeploymentRead.model_validate(deployment)


@router.get("", response_model=list[ServiceDeploymentRead])
async def list_service_deployments(
    session: SessionDep,
    principal: DeploymentsRead,
    page: PageDep,
    project_id: IdFilter = None,
    server_id: IdFilter = None,
) -> list[ServiceDeploymentRead]:
    """List deployments, by project and server."""
    deployments = await service.list_deployments(
        session, principal, page, project_id=project_id, server_id=server_id
    )
    return [ServiceDeploymentRead.model_validate(d) for d in deployments]


@router.get(
    "/{deployment_id}", response_model=ServiceDeploymentRead, responses=error_responses(404)
)
async def get_service_deployment(
    deployment_id: IdPath, session: SessionDep, principal: DeploymentsRead
) -> ServiceDeploymentRead:
    """Read a deployment."""
    deployment = await service.get_deployment(session, principal, deployment_id)
    return ServiceDeploymentRead.model_validate(deployment)


@router.patch(
    "/{deployment_id}", response_model=ServiceDeploymentRead, responses=error_responses(403, 404)
)
async def update_service_deployment(
    deployment_id: IdPath,
    body: ServiceDeploymentUpdate,
    session: SessionDep,
    principal: DeploymentsWrite,
) -> ServiceDeploymentRead:
    """Change a deployment's status, commit or URL. Service keys only."""
    deployment = await service.update_deployment(session, principal, deployment_id, body)
    return ServiceDeploymentRead.model_validate(deployment)
