"""Progress of a task, for whoever watches it."""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

from pydantic import Field

from shared.contracts.base import Identifier, Message


class ProgressType(StrEnum):
    STARTED = "started"
    PROGRESS = "progress"
    COMPLETED = "completed"
    FAILED = "failed"


class ProgressEvent(Message):
    """One step of a task's progress, published to `task_progress:{task_id}`."""

    kind: Literal["progress"] = Field(
        default="progress", description="Discriminator on `task_progress:{task_id}`."
    )

    type: ProgressType = Field(description="What kind of progress this is.")
    task_id: Identifier = Field(description="The task that progressed.")
    message: str | None = Field(default=None, description="A short human-readable line.")
    progress_pct: int | None = Field(default=None, ge=0, le=100, description="Percent done.")
    current_step: str | None = Field(default=None, description="The step now running.")
    error: str | None = Field(default=None, description="What went wrong, for `failed`.")
