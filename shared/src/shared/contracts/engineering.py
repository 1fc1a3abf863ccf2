"""Engineering intent: build or change a project's code."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.contracts.base import Identifier, Message
from shared.contracts.common import OutcomeStatus


class EngineeringMessage(Message):
    """Asks the engineering flow to implement a task's spec (published by the orchestrator CLI)."""

    task_id: Identifier = Field(description="The engineering task to carry out.")
    project_id: Identifier = Field(description="The project the task belongs to.")
    user_id: Identifier = Field(description="The user on whose behalf the work runs.")
    callback_stream: str | None = Field(
        default=None, description="Stream that receives the EngineeringResult and progress."
    )


class EngineeringResult(Message):
    """The outcome of an engineering task, sent to the callback stream."""

    kind: Literal["engineering_result"] = Field(
        default="engineering_result", description="Discriminator on `task_progress:{task_id}`."
    )

    task_id: Identifier = Field(description="The engineering task this result closes.")
    status: OutcomeStatus = Field(description="How the task ended.")
    error: str | None = Field(default=None, description="Why the task did not succeed.")
    duration_ms: int | None = Field(default=None, ge=0, description="Wall time of the whole task.")
    files_changed: list[str] | None = Field(
        default=None, description="Paths changed by the final commit."
    )
    commit_sha: str | None = Field(default=None, description="The commit that implements the task.")
    branch: str | None = Field(default=None, description="The branch holding the commit.")
