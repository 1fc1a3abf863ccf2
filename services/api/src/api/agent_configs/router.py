from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from shared.contracts import AgentConfigCreate, AgentConfigRead, AgentConfigUpdate
from shared.permissions import AGENT_CONFIGS_READ, AGENT_CONFIGS_WRITE

from api.agent_configs import service
from api.auth.principal import Principal, requires
from api.db import SessionDep
from api.errors import error_responses
from api.ids import IdPath
from api.pagination import PageDep

router = APIRouter(
    prefix="/api/agent-configs",
    tags=["agent-configs"],
    responses=error_responses(401, 403, 422, 503),
)

AgentConfigsWrite = Annotated[Principal, requires(AGENT_CONFIGS_WRITE)]
AgentConfigsRead = Annotated[Principal, requires(AGENT_CONFIGS_READ)]


@router.post(
    "", status_code=201, response_model=AgentConfigRead, responses=error_responses(403, 409)
)
async def create_agent_config(
    body: AgentConfigCreate, session: SessionDep, principal: AgentConfigsWrite
) -> AgentConfigRead:
    """Create an agent config. Service keys only."""
    return AgentConfigRead.model_validate(await service.create_config(session, principal, body))


@router.get("", response_model=list[AgentConfigRead])
async def list_agent_configs(
    session: SessionDep, principal: AgentConfigsRead, page: PageDep, active: bool | None = None
) -> list[AgentConfigRead]:
    """List agent configs, by active flag."""
    configs = await service.list_configs(session, page, active=active)
    return [AgentConfigRead.model_validate(c) for c in configs]


@router.get("/{config_id}", response_model=AgentConfigRead, responses=error_responses(404))
async def get_agent_config(
    config_id: IdPath, session: SessionDep, principal: AgentConfigsRead
) -> AgentConfigRead:
    """Read an agent config."""
    return AgentConfigRead.model_validate(await service.get_config(session, config_id))


@router.patch("/{config_id}", response_model=AgentConfigRead, responses=error_responses(403, 404))
async def update_agent_config(
    config_id: IdPath, body: AgentConfigUpdate, session: SessionDep, principal: AgentConfigsWrite
) -> AgentConfigRead:
    """Change an agent config. Service keys only."""
    config = await service.update_config(session, principal, config_id, body)
    return AgentConfigRead.model_validate(config)
