"""telegram-bot's settings."""

from __future__ import annotations

import re
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from shared.contracts import AgentType
from shared.settings import (
    PLACEHOLDER_SECRETS,
    ApiClientSettings,
    Environment,
    RedisSettings,
    ServiceSettings,
)

DEFAULT_BOT_API = "https://api.telegram.org"
# What @BotFather gives: the bot's id, a colon, a secret.
TOKEN_SHAPE = re.compile(r"^[0-9]{1,20}:[A-Za-z0-9_-]{1,100}$")
BOTFATHER_HINT = "set BOT_TOKEN to the token @BotFather gave (123456:ABC...)"


class BotSettings(ServiceSettings, RedisSettings, ApiClientSettings):
    bot_token: SecretStr | None = Field(
        default=None,
        description="The bot's token from @BotFather (polling and webhook modes; the local chat "
        "needs none).",
    )
    bot_api_url: str = Field(
        default=DEFAULT_BOT_API,
        description="The Bot API's base URL (a local Bot API server, or a fake in tests).",
    )
    mode: Literal["polling", "webhook", "local"] = Field(
        default="polling",
        description="How messages arrive: Telegram's long polling or webhook; or `local`, no "
        "Telegram: a terminal appends to telegram:inbox and reads chat:local:{chat_id}:outbox.",
    )
    polling_timeout_s: int = Field(default=25, ge=1, le=50, description="A long poll's wait.")
    webhook_url: str = Field(
        default="", description="The public HTTPS URL Telegram posts updates to (webhook mode)."
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        description="The secret Telegram sends with each webhook call "
        "(X-Telegram-Bot-Api-Secret-Token); required in webhook mode.",
    )
    webhook_host: str = Field(default="127.0.0.1", description="Where the webhook listens.")
    webhook_port: int = Field(default=8081, ge=1, le=65535, description="Its port.")
    webhook_path: str = Field(default="/telegram/webhook", description="Its path.")
    admin_telegram_ids: str = Field(
        default="",
        pattern=r"^[0-9, ]*$",
        description="Comma list of Telegram ids told of provisioning and incidents, besides the "
        "API's admin users.",
    )
    po_agent: AgentType = Field(default=AgentType.CLAUDE, description="The PO workers' agent.")
    po_allowed_commands: str = Field(
        default="PRODUCT_OWNER", description="The PO workers' ALLOWED_COMMANDS."
    )
    worker_start_timeout_s: float = Field(
        default=300, gt=0, description="How long to wait for worker-manager to start a PO worker."
    )
    liveness_check_s: float = Field(
        default=10,
        gt=0,
        description="While a turn waits for the PO's answer, how often the worker's state is "
        "looked at (a worker that died before taking the message sends nothing).",
    )
    turn_timeout_s: float = Field(
        default=3600, gt=0, description="The longest a turn waits for the PO's final answer."
    )
    edit_interval_s: float = Field(
        default=3.0,
        ge=0,
        description="At most one edit of a progress message per this many seconds (edits in "
        "between are coalesced into the next).",
    )
    follow_window_s: float = Field(
        default=6 * 3600,
        gt=0,
        description="Intents and provisioning results older than this when read are not shown "
        "(a first start does not replay history).",
    )
    incident_check_s: float = Field(
        default=60, gt=0, description="How often the API's open incidents are looked at."
    )
    consumer_name: str = Field(default="telegram-bot-1", description="This replica's name.")
    shutdown_grace_s: float = Field(default=20, gt=0, description="Grace on SIGTERM.")

    @field_validator("webhook_path")
    @classmethod
    def _absolute_path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("the webhook path starts with '/'")
        return value

    @field_validator("bot_token", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        empty = SecretStr("")
        return None if value == "" or value == empty else value

    @field_validator("bot_token")
    @classmethod
    def _token_shaped(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not TOKEN_SHAPE.match(value.get_secret_value()):
            raise ValueError(BOTFATHER_HINT)
        return value

    @model_validator(mode="after")
    def _token_for_telegram(self) -> Self:
        if self.mode != "local" and self.bot_token is None:
            raise ValueError(f"{self.mode} mode needs BOT_TOKEN: {BOTFATHER_HINT}")
        return self

    @model_validator(mode="after")
    def _real_token_in_production(self) -> Self:
        if self.bot_token is None:
            return self
        secret = self.bot_token.get_secret_value().partition(":")[2]
        if self.environment is Environment.PRODUCTION and secret.lower() in PLACEHOLDER_SECRETS:
            raise ValueError("bot_token must be set to a real secret in production")
        return self

    @model_validator(mode="after")
    def _webhook_complete(self) -> Self:
        if self.mode == "webhook":
            if not self.webhook_url.startswith("https://"):
                raise ValueError("webhook mode needs WEBHOOK_URL, the public https:// address")
            secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
            if not re.fullmatch(r"[A-Za-z0-9_-]{16,256}", secret):
                raise ValueError("webhook mode needs WEBHOOK_SECRET: 16-256 of A-Z a-z 0-9 _ -")
        return self

    @property
    def admin_ids(self) -> frozenset[int]:
        return frozenset(int(part) for part in self.admin_telegram_ids.split(",") if part.strip())
