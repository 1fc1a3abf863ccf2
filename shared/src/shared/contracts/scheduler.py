"""The scheduler's periodic work: server health checks, stale tasks handed to their flow, and the
record of every job run."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.base import Identifier, Message, utc_now
from shared.contracts.tasks import TaskType


class ServerHealthCheck(Message):
    """Asks infra-service whether a server answers (over SSH; the `local` server, on this
    machine). Its SSH key and secrets stay inside infra-service."""

    server_handle: Identifier = Field(description="The server to check: its name or its id.")


class ServerHealthResult(Message):
    """Whether a server answered a health check; repeats the check's request id."""

    server_id: Identifier = Field(description="The server checked.")
    reachable: bool = Field(description="It answered.")
    error: str | None = Field(
        default=None, max_length=2000, description="Why it did not answer (no secret in it)."
    )
    checked_at: AwareDatetime = Field(default_factory=utc_now, description="When it was asked.")


class StaleTask(Message):
    """A task still open long after any of its stages could have ended: its flow decides what
    happens to it (its own timeout path), nobody closes it behind the flow's back."""

    task_id: Identifier = Field(description="The task.")
    task_type: TaskType = Field(description="Which flow runs it.")
    reason: str = Field(max_length=500, description="What the scheduler saw.")


class JobOutcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    """The scheduler stopped mid-run; the next run goes ahead at once."""
    FENCED = "fenced"
    """The run lost its lease and another run took over; nothing it finished was recorded."""


class SchedulerRun(Message):
    """One run of one job, as it ended (`scheduler:runs`)."""

    job: str = Field(min_length=1, max_length=64, description="The job's name.")
    fence: int = Field(ge=1, description="The run's fencing token: one more than the last run's.")
    replica: Identifier = Field(description="The scheduler replica that ran it.")
    started_at: AwareDatetime = Field(description="When it started (Redis's clock).")
    finished_at: AwareDatetime = Field(description="When it ended (Redis's clock).")
    outcome: JobOutcome = Field(description="How it ended.")
    error: str | None = Field(default=None, max_length=2000, description="Why it failed.")
    summary: dict[str, int | str] = Field(
        default_factory=dict, description="What it did, in counts (`trimmed: 12`)."
    )


class JobState(BaseModel):
    """A job's shared state (`scheduler:job:{job}`), in milliseconds of Redis's clock."""

    model_config = ConfigDict(extra="ignore")

    state: str = Field(default="idle", description="`running` or `idle`.")
    interval_s: float | None = Field(default=None, description="Its interval.")
    fence: int = Field(default=0, description="The last run's fencing token.")
    holder: str | None = Field(default=None, description="The replica of the last run.")
    started_ms: int | None = Field(default=None, description="When the last run started.")
    finished_ms: int | None = Field(default=None, description="When the last finished run ended.")
    outcome: JobOutcome | None = Field(default=None, description="How it ended.")
    error: str | None = Field(default=None, description="Why it failed.")
    next_due_ms: int | None = Field(default=None, description="When the next run may start.")

    @staticmethod
    def as_datetime(ms: int | None) -> datetime | None:
        return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)
