"""The API's settings, read once in main.py."""

from __future__ import annotations

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from shared.settings import ServiceSettings


class ApiSettings(ServiceSettings):
    database_url: str = Field(
        default="postgresql://postgres@127.0.0.1:5432/codegen",
        description="PostgreSQL URL (postgresql:// or postgresql+asyncpg://).",
    )
    api_host: str = Field(default="127.0.0.1", description="Address to listen on.")
    api_port: int = Field(default=8000, ge=1, le=65535, description="Port to listen on.")
    db_pool_size: int = Field(default=10, ge=1, description="Connections kept open.")
    db_timeout_s: float = Field(default=5.0, gt=0, description="Connect and health-check timeout.")
    port_range_start: int = Field(default=20000, ge=1024, le=65535, description="First port.")
    port_range_end: int = Field(default=29999, ge=1024, le=65535, description="Last port.")

    @model_validator(mode="after")
    def _port_range_is_ordered(self) -> Self:
        if self.port_range_start > self.port_range_end:
            raise ValueError("port_range_start must not exceed port_range_end")
        return self


def secret_variable(name: str) -> SecretStr | None:
    """The environment variable `name` (exactly that name), None when it is not set: for
    `api-create-admin --service-key-env NAME`, whose variable the operator names."""

    class _Variable(BaseSettings):
        model_config = SettingsConfigDict(
            extra="ignore", frozen=True, env_file=None, case_sensitive=True
        )
        value: SecretStr | None = Field(default=None, validation_alias=name)

    return _Variable().value
