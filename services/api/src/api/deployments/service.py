"""Service deployments: what runs where, recorded by services; owners may read theirs."""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts import ServiceDeploymentCreate, ServiceDeploymentUpdate
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.deployments.models import ServiceDeployment
from api.deployments.repository import ServiceDeploymentRepository
from api.errors import InvalidReference, NotFound
from api.pagination import Page
from api.projects.service import get_project
from api.repository import apply_changes, equal_to
from api.servers.service import get_server


async def record_deployment(
    session: AsyncSession, principal: Principal, body: ServiceDeploymentCreate
) -> ServiceDeployment:
    principal.require_service()
    try:
        project = await get_project(session, principal, body.project_id)
    except NotFound as exc:
        raise InvalidReference("no such project", field="project_id") from exc
    try:
        await get_server(session, body.server_id)
    except NotFound as exc:
        raise InvalidReference("no such server", field="server_id") from exc
    deployment = ServiceDeployment(**body.model_dump(), owner_id=project.owner_id)
    return await ServiceDeploymentRepository(session).add(deployment)


async def list_deployments(
    session: AsyncSession,
    principal: Principal,
    page: Page,
    *,
    project_id: str | None,
    server_id: str | None,
) -> Sequence[ServiceDeployment]:
    where = equal_to(
        (ServiceDeployment.project_id, project_id),
        (ServiceDeployment.server_id, server_id),
        (ServiceDeployment.owner_id, principal.owner_filter()),
    )
    return await ServiceDeploymentRepository(session).list(
        *where, limit=page.limit, offset=page.offset
    )


async def get_deployment(
    session: AsyncSession, principal: Principal, deployment_id: str, *, for_update: bool = False
) -> ServiceDeployment:
    deployment = await ServiceDeploymentRepository(session).find(
        deployment_id, for_update=for_update
    )
    principal.check_owner(deployment.owner_id, "service deployment")
    return deployment


async def update_deployment(
    session: AsyncSession, principal: Principal, deployment_id: str, body: ServiceDeploymentUpdate
) -> ServiceDeployment:
    principal.require_service()
    deployment = await get_deployment(session, principal, deployment_id, for_update=True)
    apply_changes(deployment, body.model_dump(exclude_unset=True))
    await session.flush()
    return deployment
