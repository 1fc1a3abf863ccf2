"""Runs the graphs' threads: starts one per task, resumes a waiting one with the result it
waits for, ends a wait at its deadline or on cancellation, and continues a thread a dead process
left half-way. One process at a time runs a thread (its lock); every step is checkpointed before
the next one starts, so a process can die anywhere and another takes the thread on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

import structlog
from langgraph.graph.state import CompiledStateGraph
from langgraph.types import Command, Interrupt, StateSnapshot

from langgraph_service.domain.waits import Resumed, WaitFor, as_wait, deadline_of, timed_out
from langgraph_service.flows.toolkit import LOAD
from langgraph_service.ports import Crash, Flows, Locks

log = structlog.get_logger("langgraph_service")


class WrongFlow(Exception):
    """An intent for a task whose thread runs the other graph."""


class Stale(StrEnum):
    """What became of a stale task's thread (`FlowRunner.end_stale`)."""

    BUSY = "busy"  # another process runs it right now: it is alive
    LEFT = "left"  # running, or waiting for a deadline still to come: the sweeper's
    TIMED_OUT = "timed out"  # its wait was past its deadline (or had none): ended now
    FAILED = "failed"  # no thread, or a finished one, for an open task: finished failed
    CLOSED = "closed"  # the task closed meanwhile
    OTHER_GRAPH = "other graph"  # its thread runs the other graph (an intent of the wrong kind)


# Given whether a finished thread exists: the state a failed finish starts from, or None when
# the task closed meanwhile.
FailedState = Callable[[bool], Awaitable[dict[str, Any] | None]]


class FlowRunner:
    def __init__(
        self,
        graphs: Mapping[str, CompiledStateGraph[Any]],
        *,
        flows: Flows,
        locks: Locks,
        clock: Callable[[], datetime],
        crash: Crash,
    ) -> None:
        self._graphs = graphs
        self._flows = flows
        self._locks = locks
        self._clock = clock
        self._crash = crash

    async def start(self, graph: str, thread_id: str, initial: dict[str, Any]) -> None:
        """Start the task's thread; a thread that exists already is continued if a dead process
        left it half-way, and otherwise left as it is (the intent was delivered again)."""
        async with self._locks.hold(thread_id):
            existing = await self._flows.graph_of(thread_id)
            if existing is not None and existing != graph:
                raise WrongFlow(f"task {thread_id} runs a {existing} flow, not a {graph} one")
            state = await self._state(graph, thread_id)
            if not state.values and not state.next:
                await self._run(graph, thread_id, initial)
            elif _waiting(state) is None and state.next:
                await self._run(graph, thread_id, None)
            else:
                log.info("flow started already", thread_id=thread_id, graph=graph)

    async def deliver(self, thread_id: str, request_id: str, resume: Resumed) -> bool:
        """Resume the thread with `resume` if it waits for `request_id`; False when nobody
        waits for it (a duplicate, a late or a stranger's result)."""
        row = await self._flows.row(thread_id)
        if row is None or row.status == "done":
            return False
        async with self._locks.hold(thread_id):
            row = await self._flows.row(thread_id)
            if row is None or row.status == "done":
                return False
            if row.status == "waiting":
                # Written under this lock after the wait was checkpointed, and replaced by
                # `running` before any later run: it is the thread's wait, no checkpoint read.
                if row.request_id != request_id:
                    return False
                await self._run(row.graph, thread_id, Command(resume=resume))
                return True
            return await self._resume_if_waiting(row.graph, thread_id, request_id, resume)

    async def end_wait(self, thread_id: str, request_id: str | None, resume: Resumed) -> bool:
        """For the sweeper: resume the thread with a timeout or a cancellation if it is still
        waiting (for `request_id`, or for anything when None). Skips a busy thread."""
        graph = await self._flows.graph_of(thread_id)
        if graph is None:
            return False
        async with self._locks.try_hold(thread_id) as held:
            if not held:
                return False
            state = await self._state(graph, thread_id)
            wait = _waiting(state)
            if wait is None:
                return False
            return await self._resume_if_waiting(
                graph, thread_id, request_id or wait["request_id"], resume
            )

    async def continue_stalled(self, thread_id: str) -> bool:
        """For the sweeper: run on a thread a dead process left half-way (not if it is held)."""
        graph = await self._flows.graph_of(thread_id)
        if graph is None:
            return False
        async with self._locks.try_hold(thread_id) as held:
            if not held:
                return False
            state = await self._state(graph, thread_id)
            if not state.values:
                return False  # never started: its intent is still pending and comes again
            if _waiting(state) is not None or not state.next:
                await self._record(graph, thread_id, state)
                return False
            log.info("continuing a flow left half-way", thread_id=thread_id, graph=graph)
            await self._run(graph, thread_id, None)
            return True

    async def end_stale(
        self, graph: str, thread_id: str, *, now: datetime, failed: FailedState
    ) -> Stale:
        """For a task open long past any stage's time limit: a thread running or waiting for a
        deadline still to come is left to the sweeper; a wait past its deadline (or without one)
        is timed out now; a task with no thread, or whose thread ended without closing it, is
        finished failed by the graph's own `finish` (from `failed`'s state, as if `load` had
        ended it), so the task closes, the project goes back to rest and the result is
        published as for any failed flow. Skips a busy thread, like the sweeper."""
        async with self._locks.try_hold(thread_id) as held:
            if not held:
                return Stale.BUSY
            row = await self._flows.row(thread_id)
            if row is not None and row.graph != graph:
                return Stale.OTHER_GRAPH
            if row is None or row.status == "done":
                values = await failed(row is not None)
                if values is None:
                    return Stale.CLOSED
                # Marked first: a process dying before the finish is through leaves a row the
                # sweeper continues.
                await self._flows.running(thread_id, graph)
                await self._graphs[graph].aupdate_state(_config(thread_id), values, as_node=LOAD)
                await self._run(graph, thread_id, None)
                return Stale.FAILED
            wait = _waiting(await self._state(graph, thread_id))
            if wait is None:
                return Stale.LEFT
            deadline = _deadline(wait)
            if deadline is not None and deadline > now:
                return Stale.LEFT
            await self._run(graph, thread_id, Command(resume=timed_out()))
            return Stale.TIMED_OUT

    async def workers_of(self, thread_id: str) -> set[str]:
        """The workers the thread knows it created and has not deleted yet."""
        graph = await self._flows.graph_of(thread_id)
        if graph is None:
            return set()
        values = (await self._state(graph, thread_id)).values
        return {
            *values.get("workers", []),
            *([values["worker_id"]] if values.get("worker_id") else []),
        }

    async def waiting_for(self, thread_id: str) -> WaitFor | None:
        graph = await self._flows.graph_of(thread_id)
        if graph is None:
            return None
        return _waiting(await self._state(graph, thread_id))

    async def _resume_if_waiting(
        self, graph: str, thread_id: str, request_id: str, resume: Resumed
    ) -> bool:
        state = await self._state(graph, thread_id)
        wait = _waiting(state)
        if wait is None and state.next:
            # Left half-way by a dead process: run on to the wait it was heading for.
            wait = await self._run(graph, thread_id, None)
        if wait is None or wait["request_id"] != request_id:
            return False
        await self._run(graph, thread_id, Command(resume=resume))
        return True

    async def _run(self, graph: str, thread_id: str, payload: Any) -> WaitFor | None:
        """Run the thread until it waits or ends; the wait it stopped at (None: it ended)."""
        await self._flows.running(thread_id, graph)
        compiled = self._graphs[graph]
        result = await compiled.ainvoke(payload, _config(thread_id), durability="sync")
        self._crash.point("after_checkpoint")
        wait = _first_wait(result.get("__interrupt__", []) if isinstance(result, dict) else [])
        await self._record_wait(thread_id, wait)
        return wait

    async def _record(self, graph: str, thread_id: str, state: StateSnapshot) -> None:
        wait = _waiting(state)
        if wait is not None or not state.next:
            await self._record_wait(thread_id, wait)

    async def _record_wait(self, thread_id: str, wait: WaitFor | None) -> None:
        if wait is not None:
            await self._flows.waiting(
                thread_id,
                request_id=wait["request_id"],
                stream=wait["stream"],
                deadline=deadline_of(wait),
            )
        else:
            await self._flows.done(thread_id)

    async def _state(self, graph: str, thread_id: str) -> StateSnapshot:
        return await self._graphs[graph].aget_state(_config(thread_id))


def _config(thread_id: str) -> Any:
    return {"configurable": {"thread_id": thread_id}}


def _deadline(wait: WaitFor) -> datetime | None:
    try:
        return deadline_of(wait)
    except ValueError:
        return None


def _waiting(state: StateSnapshot) -> WaitFor | None:
    return _first_wait(state.interrupts)


def _first_wait(interrupts: Iterable[Interrupt]) -> WaitFor | None:
    for interrupt in interrupts:
        wait = as_wait(interrupt.value)
        if wait is not None:
            return wait
    return None
