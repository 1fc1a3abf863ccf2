"""Projects: owned by a user; status moves only along the contract's transitions."""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts import PROJECT_TRANSITIONS, ProjectCreate, ProjectStatus, ProjectUpdate
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.principal import Principal
from api.errors import Conflict, InvalidReference, InvalidTransition
from api.pagination import Page
from api.projects.models import Project
from api.projects.repository import ProjectRepository
from api.repository import apply_changes, equal_to
from api.users.repository import UserRepository


async def create_project(
    session: AsyncSession, principal: Principal, body: ProjectCreate
) -> Project:
    owner_id = body.owner_id or principal.user_id
    if owner_id is None:
        raise InvalidReference("a service must name the project's owner", field="owner_id")
    if not principal.is_service and owner_id != principal.user_id:
        raise InvalidReference("a user's key creates projects for that user only", field="owner_id")
    if await UserRepository(session).get(owner_id) is None:
        raise InvalidReference("no such user", field="owner_id")
    projects = ProjectRepository(session)
    if await projects.by_name(body.name) is not None:
        raise Conflict(f"a project named {body.name!r} exists", field="name")
    return await projects.add(
        Project(
            name=body.name,
            description=body.description,
            modules=list(body.modules),
            owner_id=owner_id,
            status=ProjectStatus.DRAFT,
        )
    )


async def list_projects(
    session: AsyncSession,
    principal: Principal,
    page: Page,
    *,
    owner_id: str | None = None,
    status: ProjectStatus | None = None,
) -> Sequence[Project]:
    where = equal_to(
        (Project.owner_id, owner_id),
        (Project.status, status),
        (Project.owner_id, principal.owner_filter()),
    )
    return await ProjectRepository(session).list(*where, limit=page.limit, offset=page.offset)


async def get_project(
    session: AsyncSession, principal: Principal, project_id: str, *, for_update: bool = False
) -> Project:
    project = await ProjectRepository(session).find(project_id, for_update=for_update)
    principal.check_owner(project.owner_id, "project")
    return project


async def update_project(
    session: AsyncSession, principal: Principal, project_id: str, body: ProjectUpdate
) -> Project:
    project = await get_project(session, principal, project_id, for_update=True)
    changes = body.model_dump(exclude_unset=True)
    target = changes.pop("status", None)
    if target is not None and target != project.status:
        if target not in PROJECT_TRANSITIONS[project.status]:
            raise InvalidTransition(
                f"a {project.status} project cannot become {target}",
                field="status",
                context={"from": project.status, "to": target},
            )
        project.status = target
    apply_changes(project, changes)
    await session.flush()
    return project
