"""Health reports (REST)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.contracts.base import RestModel


class HealthRead(RestModel):
    status: Literal["ok", "degraded"] = Field(description="`ok` when every dependency answers.")
    database: Literal["ok", "unreachable"] = Field(description="The database's state.")
    version: str = Field(description="The service's version.")
