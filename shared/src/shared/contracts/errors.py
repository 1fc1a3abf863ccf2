"""The one shape of every REST error."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from shared.contracts.base import RestModel


class ErrorDetail(RestModel):
    field: str | None = Field(default=None, description="Dotted path of the field at fault.")
    message: str = Field(description="What is wrong with it.")


class ErrorResponse(RestModel):
    error: str = Field(description="Machine-readable kind, e.g. `not_found`, `validation_error`.")
    message: str = Field(description="Human-readable summary.")
    details: list[ErrorDetail] = Field(default_factory=list, description="Per-field problems.")
    context: dict[str, Any] = Field(default_factory=dict, description="Extra facts.")
