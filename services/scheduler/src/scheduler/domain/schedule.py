"""The schedule's rules: a job, when its next run is due, how long a replica waits before asking
again, and what a run's record says."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.contracts import JobOutcome, SchedulerRun

from scheduler.ports import JobRun, Start, Summary

# A replica never waits less than this before asking again: a tight loop on a busy job would
# only load Redis.
MIN_WAIT_S = 0.05


@dataclass(frozen=True)
class Job:
    name: str
    interval_s: float
    run: JobRun


def next_in_ms(interval_s: float, jitter: float, rand: Callable[[], float]) -> int:
    """When the job is next due after a run started: its interval, put off by up to `jitter` of
    it at random, so replicas' jobs do not all fall due on the same tick."""
    return int(interval_s * 1000 * (1 + jitter * rand()))


def wait_s(start: Start, poll_s: float) -> float:
    """How long to wait before asking for a job again: until it is due, but never longer than
    `poll_s` (another replica may run it and set another time meanwhile)."""
    if start.due_ms is None:
        return poll_s
    return max(MIN_WAIT_S, min(poll_s, (start.due_ms - start.now_ms) / 1000))


def describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return f"{type(error).__name__}: {text}"[:2000] if str(error) else text


def run_record(
    *,
    job: str,
    fence: int,
    replica: str,
    started_ms: int,
    finished_ms: int,
    outcome: JobOutcome,
    error: str | None,
    summary: Summary,
) -> SchedulerRun:
    return SchedulerRun(
        request_id=f"{job}.{fence}",
        job=job,
        fence=fence,
        replica=replica,
        started_at=_at(started_ms),
        finished_at=_at(finished_ms),
        outcome=outcome,
        error=error,
        summary=dict(summary),
    )


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)
