"""Each job's loop: ask the shared schedule for the job, run it while renewing its lease, record
how it ended; otherwise wait until it is due (or `poll_s`). Any number of replicas run the same
loops; the schedule's script lets one run start per due time, and a fence orders them.

- A run that loses its lease (renewal refused, or Redis silent for a whole lease) is cancelled;
  whatever it would still write is refused by `Lease.check`, and its record by its fence.
- A replica killed mid-run holds the job until the lease expires; then another replica runs it.
- Asked to stop, a replica lets a run in flight finish (the service's grace), then cancels it and
  leaves the job due at once for another replica.
- Redis or a job failing never ends the loop: the run is recorded failed, or the loop waits and
  asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import Enum

import structlog
from shared.contracts import JobOutcome
from shared.lifetime import Lifetime

from scheduler.domain.schedule import Job, describe, next_in_ms, run_record, wait_s
from scheduler.ports import LeaseLost, Schedule, Summary

log = structlog.get_logger("scheduler")

Sleep = Callable[[float, asyncio.Event], Awaitable[None]]


async def sleep_unless_stopped(seconds: float, stopping: asyncio.Event) -> None:
    """Wait `seconds`, or less if the service is told to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), timeout=seconds)


@dataclass(frozen=True)
class Timing:
    lease_s: float
    poll_s: float
    jitter: float
    # How long a run in flight may go on once the service is told to stop.
    grace_s: float = 30.0
    # How long a run may take at all, and a call to the schedule (a Redis script).
    run_timeout_s: float = 900.0
    call_timeout_s: float = 10.0

    @property
    def lease_ms(self) -> int:
        return max(1, int(self.lease_s * 1000))


@dataclass
class RunLease:
    """A run's lease as the job sees it (`ports.Lease`)."""

    job: str
    fence: int
    lost: asyncio.Event = field(default_factory=asyncio.Event)

    def check(self) -> None:
        if self.lost.is_set():
            raise LeaseLost(f"run {self.fence} of {self.job} lost its lease")


async def run_forever(
    job: Job,
    lifetime: Lifetime,
    *,
    schedule: Schedule,
    replica: str,
    timing: Timing,
    sleep: Sleep = sleep_unless_stopped,
    rand: Callable[[], float] = random.random,
) -> None:
    """The job's loop, until the service stops."""
    while not lifetime.stopping.is_set():
        try:
            async with asyncio.timeout(timing.call_timeout_s):
                start = await schedule.try_start(job.name, replica, timing.lease_ms)
        except Exception as exc:
            log.warning("could not ask for a job", job=job.name, error=describe(exc))
            await sleep(timing.poll_s, lifetime.stopping)
            continue
        if start.fence is None:
            await sleep(wait_s(start, timing.poll_s), lifetime.stopping)
            continue
        await run_once(
            job, start.fence, lifetime, schedule=schedule, replica=replica, timing=timing, rand=rand
        )


async def run_once(
    job: Job,
    fence: int,
    lifetime: Lifetime,
    *,
    schedule: Schedule,
    replica: str,
    timing: Timing,
    rand: Callable[[], float] = random.random,
) -> JobOutcome:
    """One run of a job whose lease this replica holds with `fence`; how it ended."""
    lease = RunLease(job.name, fence)
    work = asyncio.create_task(job.run(lease), name=f"{job.name}#{fence}")
    keeper = asyncio.create_task(_keep(lease, work, schedule, replica, timing))
    summary: Summary = {}
    error: str | None = None
    log.info("job started", job=job.name, fence=fence)
    try:
        ended = await _until_ended(work, lifetime, timing)
        if ended is Ended.TIMED_OUT:
            outcome = JobOutcome.FAILED
            error = f"the run took longer than its time limit ({timing.run_timeout_s:g} s)"
            log.warning("job ran past its time limit", job=job.name, fence=fence)
        elif ended is Ended.STOPPED:
            outcome = JobOutcome.INTERRUPTED
        elif work.cancelled():
            outcome = JobOutcome.FENCED if lease.lost.is_set() else JobOutcome.INTERRUPTED
        else:
            summary = work.result()
            outcome = JobOutcome.SUCCEEDED
    except asyncio.CancelledError:
        # This loop itself is being cancelled (the service could not wait any longer).
        work.cancel()
        keeper.cancel()
        await _finish(job, lease, JobOutcome.INTERRUPTED, None, 0, schedule, replica, {}, timing)
        raise
    except LeaseLost as exc:
        outcome, error = JobOutcome.FENCED, str(exc)
    except Exception as exc:
        outcome, error = JobOutcome.FAILED, describe(exc)
        log.warning("job failed", job=job.name, fence=fence, error=error)
    finally:
        keeper.cancel()
    await asyncio.wait({keeper}, timeout=timing.call_timeout_s)
    # An interrupted job is due again at once, for whichever replica is still up.
    due_in = (
        0 if outcome is JobOutcome.INTERRUPTED else next_in_ms(job.interval_s, timing.jitter, rand)
    )
    await _finish(job, lease, outcome, error, due_in, schedule, replica, summary, timing)
    return outcome


class Ended(Enum):
    DONE = "done"
    TIMED_OUT = "timed out"
    STOPPED = "stopped"


async def _until_ended(work: asyncio.Task[Summary], lifetime: Lifetime, timing: Timing) -> Ended:
    """Wait for the run, at most its time limit; once the service is told to stop, the grace
    period more at most. A run cut short is cancelled; one that does not end even then is left
    behind (logged), so nothing a job awaits can wedge its loop."""
    stopping = asyncio.create_task(lifetime.stopping.wait())
    try:
        await asyncio.wait(
            {work, stopping}, timeout=timing.run_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    finally:
        stopping.cancel()
    if work.done():
        return Ended.DONE
    ended = Ended.TIMED_OUT
    if lifetime.stopping.is_set():
        await asyncio.wait({work}, timeout=timing.grace_s)
        if work.done():
            return Ended.DONE
        ended = Ended.STOPPED
        log.warning("a run outlived the grace period; cancelling it", task=work.get_name())
    work.cancel()
    await asyncio.wait({work}, timeout=timing.call_timeout_s)
    if not work.done():
        log.error("a cancelled run did not end; left behind", task=work.get_name())
    return ended


async def _keep(
    lease: RunLease, work: asyncio.Task[Summary], schedule: Schedule, replica: str, timing: Timing
) -> None:
    """Renew the lease every third of it; when it is lost, or could not be renewed for a whole
    lease (another replica may hold the job by now), the run is cancelled."""
    loop = asyncio.get_running_loop()
    renewed_at = loop.time()
    while True:
        await asyncio.sleep(timing.lease_s / 3)
        try:
            async with asyncio.timeout(timing.call_timeout_s):
                held = await schedule.renew(lease.job, lease.fence, replica, timing.lease_ms)
        except Exception as exc:
            log.warning("could not renew a lease", job=lease.job, error=describe(exc))
            held = loop.time() - renewed_at < timing.lease_s * 2 / 3
        else:
            renewed_at = loop.time() if held else renewed_at
        if not held:
            log.warning("a run lost its lease; cancelling it", job=lease.job, fence=lease.fence)
            lease.lost.set()
            work.cancel()
            return


async def _finish(
    job: Job,
    lease: RunLease,
    outcome: JobOutcome,
    error: str | None,
    due_in_ms: int,
    schedule: Schedule,
    replica: str,
    summary: Summary,
    timing: Timing,
) -> None:
    try:
        async with asyncio.timeout(timing.call_timeout_s):
            finished = await schedule.finish(
                job.name, lease.fence, replica, outcome=outcome, error=error, next_in_ms=due_in_ms
            )
    except Exception as exc:
        # Its lease will expire and another run go ahead: nothing is lost but this record.
        log.warning("could not record a run", job=job.name, fence=lease.fence, error=describe(exc))
        return
    if finished is None:
        log.warning("a later run took over; this run's end is not recorded", job=job.name)
        return
    log.info(
        "job finished",
        job=job.name,
        fence=lease.fence,
        outcome=outcome.value,
        error=error,
        took_ms=finished.finished_ms - finished.started_ms,
        **{f"n_{key}": value for key, value in summary.items()},
    )
    try:
        async with asyncio.timeout(timing.call_timeout_s):
            await schedule.record(
                run_record(
                    job=job.name,
                    fence=lease.fence,
                    replica=replica,
                    started_ms=finished.started_ms,
                    finished_ms=finished.finished_ms,
                    outcome=outcome,
                    error=error,
                    summary=summary,
                )
            )
    except Exception as exc:
        log.warning("could not add a run to the history", job=job.name, error=describe(exc))
