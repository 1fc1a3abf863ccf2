"""Agent configs: which agent, model and prompt a role uses; services write, every key reads."""

from __future__ import annotations

from collections.abc import Sequence

from shared.contracts import AgentConfigCreate, AgentConfigUpdate
from sqlalchemy.ext.asyncio import AsyncSession

from api.agent_configs.models import AgentConfig
from api.agent_configs.repository import AgentConfigRepository
from api.auth.principal import Principal
from api.errors import Conflict
from api.pagination import Page
from api.repository import apply_changes, equal_to


async def create_config(
    session: AsyncSession, principal: Principal, body: AgentConfigCreate
) -> AgentConfig:
    principal.require_service()
    configs = AgentConfigRepository(session)
    if await configs.by_name(body.name) is not None:
        raise Conflict(f"an agent config named {body.name!r} exists", field="name")
    return await configs.add(AgentConfig(**body.model_dump()))


async def list_configs(
    session: AsyncSession, page: Page, *, active: bool | None
) -> Sequence[AgentConfig]:
    where = equal_to((AgentConfig.active, active))
    return await AgentConfigRepository(session).list(*where, limit=page.limit, offset=page.offset)


async def get_config(
    session: AsyncSession, config_id: str, *, for_update: bool = False
) -> AgentConfig:
    return await AgentConfigRepository(session).find(config_id, for_update=for_update)


async def update_config(
    session: AsyncSession, principal: Principal, config_id: str, body: AgentConfigUpdate
) -> AgentConfig:
    principal.require_service()
    config = await get_config(session, config_id, for_update=True)
    apply_changes(config, body.model_dump(exclude_unset=True))
    await session.flush()
    return config
