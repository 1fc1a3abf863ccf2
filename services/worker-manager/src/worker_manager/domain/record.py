"""What worker-manager keeps about a worker (`worker:status:{id}`), typed: the public status
fields and what it needs to manage the worker."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from shared.contracts import WorkerState, WorkerType

from worker_manager.domain.status import FINAL


@dataclass(frozen=True)
class EndClaim:
    """A lifecycle event's word that the worker ended, kept until its process is seen to exit:
    the worker ends in the claimed state only if its exit code agrees."""

    state: WorkerState
    exit_code: int | None
    error: str

    def fields(self) -> dict[str, object]:
        """The record's fields that hold the claim."""
        return {
            "claimed_state": self.state.value,
            "claimed_exit_code": self.exit_code,
            "claimed_error": self.error,
        }


@dataclass(frozen=True)
class WorkerRecord:
    worker_id: str
    worker_type: WorkerType
    state: WorkerState
    started_at: datetime
    updated_at: datetime
    last_active_at: datetime | None = None
    handle: str | None = None  # the backend's name for it; None while it is being created
    key_id: str | None = None  # its API key, until revoked
    user_id: str | None = None
    agent_type: str | None = None
    project_id: str | None = None
    created_by: str | None = None
    current_task_id: str | None = None
    current_request_id: str | None = None
    exit_code: int | None = None
    error: str | None = None
    deleting: bool = False  # a delete is stopping it: it ends STOPPED, whoever sees it end
    claim: EndClaim | None = None
    engine_error_since: float | None = None  # when the backend first could not see it

    @property
    def is_final(self) -> bool:
        return self.state in FINAL

    @property
    def last_active(self) -> datetime:
        return self.last_active_at or self.started_at

    @classmethod
    def from_fields(cls, fields: Mapping[str, str]) -> WorkerRecord:
        """The record from its stored fields (all text; an empty one is unset)."""

        def text(name: str) -> str | None:
            return fields.get(name) or None

        def number(name: str) -> int | None:
            value = text(name)
            return None if value is None else int(value)

        def moment(name: str) -> datetime | None:
            value = text(name)
            return None if value is None else datetime.fromisoformat(value)

        claimed = text("claimed_state")
        started_at = moment("started_at")
        updated_at = moment("updated_at")
        if started_at is None or updated_at is None:
            raise ValueError(f"worker record {fields.get('worker_id')!r} has no timestamps")
        since = text("engine_error_since")
        return cls(
            worker_id=fields["worker_id"],
            worker_type=WorkerType(fields["worker_type"]),
            state=WorkerState(fields["state"]),
            started_at=started_at,
            updated_at=updated_at,
            last_active_at=moment("last_active_at"),
            handle=text("handle"),
            key_id=text("key_id"),
            user_id=text("user_id"),
            agent_type=text("agent_type"),
            project_id=text("project_id"),
            created_by=text("created_by"),
            current_task_id=text("current_task_id"),
            current_request_id=text("current_request_id"),
            exit_code=number("exit_code"),
            error=text("error"),
            deleting=bool(text("deleting")),
            claim=None
            if claimed is None
            else EndClaim(
                WorkerState(claimed), number("claimed_exit_code"), text("claimed_error") or ""
            ),
            engine_error_since=None if since is None else float(since),
        )
