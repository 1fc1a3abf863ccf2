"""A flow's waits: what a node asks `interrupt()` to wait for, and what it is resumed with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypedDict


class WaitFor(TypedDict):
    stream: str
    request_id: str
    deadline: str  # ISO 8601, UTC


class Ending(StrEnum):
    RESULT = "result"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"


class Resumed(TypedDict, total=False):
    ending: str
    result: dict[str, Any]


def wait_for(stream: str, request_id: str, *, now: datetime, within_s: float) -> WaitFor:
    deadline = now + timedelta(seconds=within_s)
    return WaitFor(stream=stream, request_id=request_id, deadline=deadline.isoformat())


def deadline_of(wait: WaitFor) -> datetime:
    return datetime.fromisoformat(wait["deadline"]).astimezone(UTC)


def as_wait(value: Any) -> WaitFor | None:
    """An interrupt's value, if it is one of ours."""
    if (
        isinstance(value, dict)
        and isinstance(value.get("stream"), str)
        and isinstance(value.get("request_id"), str)
        and isinstance(value.get("deadline"), str)
    ):
        return WaitFor(
            stream=value["stream"], request_id=value["request_id"], deadline=value["deadline"]
        )
    return None


def with_result(result: dict[str, Any]) -> Resumed:
    return Resumed(ending=Ending.RESULT.value, result=result)


def timed_out() -> Resumed:
    return Resumed(ending=Ending.TIMEOUT.value)


def cancelled() -> Resumed:
    return Resumed(ending=Ending.CANCELLED.value)


def ending_of(value: Any) -> Ending:
    if isinstance(value, dict):
        try:
            return Ending(str(value.get("ending")))
        except ValueError:
            pass
    raise ValueError(f"a wait was resumed with something that is not an ending: {value!r:.200}")
