"""The settings base every cube's settings extend."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "dev", "test"})


class Environment(StrEnum):
    LOCAL = "local"
    TEST = "test"
    PRODUCTION = "production"


# Every settings class here has it, mixins too: a class's config is merged from its bases in
# order, so a mixin with BaseSettings' defaults would undo ServiceSettings'. An empty variable is
# an unset one: compose hands every service `${NAME:-}` for the settings an operator may leave
# out, and "" is not a value of an optional reference or number.
SETTINGS_CONFIG = SettingsConfigDict(
    extra="ignore", frozen=True, env_file=None, env_ignore_empty=True
)


class ServiceSettings(BaseSettings):
    """Read once from the environment in a service's `main.py`, then passed down explicitly.

    Outside local and test runs, every `SecretStr` field must hold a real secret.
    """

    model_config = SETTINGS_CONFIG

    environment: Environment = Field(default=Environment.LOCAL, description="Where this runs.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="Lowest level logged."
    )
    log_format: Literal["json", "console"] | None = Field(
        default=None, description="Log rendering; default JSON in production, console elsewhere."
    )
    health_file: Path | None = Field(
        default=None,
        description="A file the service touches while it is healthy, for a container's health "
        "check; none by default.",
    )
    health_interval_s: float = Field(
        default=5.0, gt=0, description="How often the service touches HEALTH_FILE."
    )

    @property
    def log_json(self) -> bool:
        if self.log_format is not None:
            return self.log_format == "json"
        return self.environment is Environment.PRODUCTION

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Self:
        if self.environment is Environment.PRODUCTION:
            for name in type(self).model_fields:
                value = getattr(self, name)
                placeholder = (
                    isinstance(value, SecretStr)
                    and value.get_secret_value().strip().lower() in PLACEHOLDER_SECRETS
                )
                if placeholder:
                    raise ValueError(f"{name} must be set to a real secret in production")
        return self


# Mixins for what several cubes need. Field names are the variables' names, unprefixed: each
# process is given exactly its own environment by whoever starts it (docs/decisions/0010).
class RedisSettings(BaseSettings):
    model_config = SETTINGS_CONFIG

    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis.")


class ApiClientSettings(BaseSettings):
    model_config = SETTINGS_CONFIG

    api_url: str = Field(default="http://127.0.0.1:8000", description="The API.")
    api_key: SecretStr = Field(default=SecretStr(""), description="This service's API key.")
    api_timeout_s: float = Field(default=10, gt=0, description="A request's time limit.")


class DataDirSettings(BaseSettings):
    model_config = SETTINGS_CONFIG

    data_dir: Path = Field(default=Path(".data"), description="Where this service keeps files.")


class SecretSettings(BaseSettings):
    """Where this service's secret references point (`shared.secrets`)."""

    model_config = SETTINGS_CONFIG

    secrets_dir: Path | None = Field(
        default=None, description="Where `file:` secret references point (0700, owned by us)."
    )
    secret_env_prefix: str = Field(
        default="CODEGEN_SECRET_",
        min_length=1,
        description="`env:NAME` reads this prefix + NAME, never the service's own settings.",
    )

    def secret_variables(self) -> dict[str, str]:
        """What `env:NAME` references may name: this service's SECRET_ENV_PREFIX variables,
        prefix removed. Read here, like every other setting."""
        prefix = self.secret_env_prefix
        return {
            name.removeprefix(prefix): value
            for name, value in os.environ.items()
            if name.startswith(prefix)
        }
