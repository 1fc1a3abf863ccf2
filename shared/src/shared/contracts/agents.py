"""Agent configurations (REST): which agent, model and prompt a worker role uses."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared.contracts.base import Identifier, RestModel, Slug
from shared.contracts.workers import AgentType


class AgentConfigCreate(RestModel):
    name: Slug = Field(description="Unique name, e.g. `product-owner`.")
    agent_type: AgentType = Field(description="Which headless agent.")
    model: str = Field(
        default="", max_length=100, description="Model name, if the agent takes one."
    )
    prompt: str = Field(default="", max_length=100_000, description="System instructions.")
    active: bool = Field(default=True, description="Only active configs are used.")


class AgentConfigUpdate(RestModel):
    agent_type: AgentType | None = Field(default=None, description="Which headless agent.")
    model: str | None = Field(default=None, max_length=100, description="Model name.")
    prompt: str | None = Field(default=None, max_length=100_000, description="Instructions.")
    active: bool | None = Field(default=None, description="Active flag.")


class AgentConfigRead(RestModel):
    id: Identifier = Field(description="The config's id.")
    name: str = Field(description="Its name.")
    agent_type: AgentType = Field(description="Which headless agent.")
    model: str = Field(description="Model name.")
    prompt: str = Field(description="System instructions.")
    active: bool = Field(description="Active flag.")
    created_at: datetime = Field(description="When it was created.")
    updated_at: datetime = Field(description="When it last changed.")
