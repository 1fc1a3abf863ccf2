"""Entries that could not be handled, kept with the reason."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared.contracts.base import utc_now


class DeadLetter(BaseModel):
    """An entry moved to `<stream>:dlq`: the original fields and why it was given up on."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    source_stream: str = Field(description="The stream the entry came from.")
    entry_id: str = Field(description="The entry's id in the source stream.")
    group: str = Field(description="The consumer group that gave up on it.")
    delivery_count: int = Field(ge=0, description="How many times it had been delivered.")
    reason: str = Field(
        description="`invalid` (did not validate), `undecodable` (not UTF-8 text), "
        "`permanent_failure` (the handler said retrying cannot help) or `max_deliveries`."
    )
    error: str = Field(description="The validation error or the handler's last error.")
    fields: dict[str, str] = Field(
        description="The entry's original fields as text (bytes that are not UTF-8 escaped)."
    )
    raw_fields_base64: list[str] | None = Field(
        default=None,
        description="For an undecodable entry or one that repeats a field: every name and value, "
        "alternating, base64-encoded, so nothing of it is lost.",
    )
    failed_at: datetime = Field(default_factory=utc_now, description="When it was dead-lettered.")
