from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from shared.contracts import ProjectCreate, ProjectRead, ProjectStatus, ProjectUpdate
from shared.permissions import PROJECTS_READ, PROJECTS_WRITE

from api.auth.principal import Principal, requires
from api.db import SessionDep
from api.errors import error_responses
from api.ids import IdFilter, IdPath
from api.pagination import PageDep
from api.projects import service

router = APIRouter(
    prefix="/api/projects", tags=["projects"], responses=error_responses(401, 403, 422, 503)
)

ProjectsWrite = Annotated[Principal, requires(PROJECTS_WRITE)]
ProjectsRead = Annotated[Principal, requires(PROJECTS_READ)]


@router.post("", status_code=201, response_model=ProjectRead, responses=error_responses(409))
async def create_project(
    body: ProjectCreate, session: SessionDep, principal: ProjectsWrite
) -> ProjectRead:
    """Create a project in `draft`."""
    return ProjectRead.model_validate(await service.create_project(session, principal, body))


@router.get("", response_model=list[ProjectRead])
async def list_projects(
    session: SessionDep,
    principal: ProjectsRead,
    page: PageDep,
    owner_id: IdFilter = None,
    status: ProjectStatus | None = None,
) -> list[ProjectRead]:
    """List projects (a user's key sees only its own)."""
    projects = await service.list_projects(
        session, principal, page, owner_id=owner_id, status=status
    )
    return [ProjectRead.model_validate(p) for p in projects]


@router.get("/{project_id}", response_model=ProjectRead, responses=error_responses(404))
async def get_project(
    project_id: IdPath, session: SessionDep, principal: ProjectsRead
) -> ProjectRead:
    """Read a project."""
    return ProjectRead.model_validate(await service.get_project(session, principal, project_id))


@router.patch("/{project_id}", response_model=ProjectRead, responses=error_responses(404, 409))
async def update_project(
    project_id: IdPath, body: ProjectUpdate, session: SessionDep, principal: ProjectsWrite
) -> ProjectRead:
    """Change a project; a status change must follow the allowed transitions (409 otherwise)."""
    project = await service.update_project(session, principal, project_id, body)
    return ProjectRead.model_validate(project)
