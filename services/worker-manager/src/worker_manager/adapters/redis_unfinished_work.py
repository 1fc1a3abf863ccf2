"""Answering for a dead worker, exactly once: a developer worker's unfinished task is reported
to the single listener as failed, and a PO worker's unanswered message gets a reply for its
user.

A developer worker's input stream is its own: a run it never took (it died before reading it, or
before it even made its group) would wait there for nobody, so it is taken in the dead worker's
name and answered like one it held."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from redis.client import NEVER_DECODE
from redis.exceptions import ResponseError
from shared.contracts import (
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    OutcomeStatus,
    POWorkerInput,
    POWorkerOutput,
    WorkerType,
)
from shared.streams import raw
from shared.streams.registry import DEVELOPER_OUTPUT, PO_OUTPUT
from shared.streams.wire import DATA_FIELD, InvalidEntry, encode, text_fields

from worker_manager.adapters.redis_inputs import input_of
from worker_manager.domain.status import dead_po_workers_answer

log = structlog.get_logger("worker_manager")

# XACK decides who reports: the wrapper (it acknowledges after publishing its own output), a
# lifecycle event and the process watcher may all try, and only the one whose XACK removed the
# entry publishes, in the same atomic step.
_ACK_AND_REPORT = """
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 1 then redis.call('XADD', KEYS[2], '*', 'data', ARGV[3]) end
return acked
"""

Reply = Callable[[str], POWorkerOutput | DeveloperWorkerOutput]
_TAKE_BATCH = 100


class RedisUnfinishedWork:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._reader = raw.raw_reader(redis)
        self._script = redis.register_script(_ACK_AND_REPORT)

    async def report(
        self, worker_id: str, worker_type: WorkerType, reason: str, exit_code: int | None
    ) -> list[str]:
        """Answer every input the worker took and did not acknowledge; returns their request ids."""
        if worker_type is WorkerType.PO:

            def po_reply(data: str) -> POWorkerOutput:
                return dead_po_workers_answer(POWorkerInput.model_validate_json(data))

            return await self._answer(
                worker_id, worker_type, PO_OUTPUT.name(worker_id=worker_id), po_reply
            )

        def developer_failure(data: str) -> DeveloperWorkerOutput:
            task = DeveloperWorkerInput.model_validate_json(data)
            return DeveloperWorkerOutput(
                request_id=task.request_id,
                correlation_id=task.correlation_id,
                task_id=task.task_id,
                worker_id=worker_id,
                status=OutcomeStatus.ERROR,
                error=reason,
                exit_code=exit_code,
            )

        return await self._answer(
            worker_id, worker_type, DEVELOPER_OUTPUT.pattern, developer_failure
        )

    async def _answer(
        self, worker_id: str, worker_type: WorkerType, output_stream: str, reply: Reply
    ) -> list[str]:
        stream, group = input_of(worker_id, worker_type)
        if worker_type is WorkerType.DEVELOPER:
            await self._take_waiting(worker_id, stream, group)
        try:
            pending = await self._redis.xpending_range(
                stream, group, min="-", max="+", count=100, consumername=worker_id
            )
        except Exception as exc:  # no group yet: the worker never took anything
            if "NOGROUP" in str(exc):
                return []
            raise
        answered = []
        for item in pending:
            entry_id = str(item["message_id"])
            found = await self._reader.execute_command(  # type: ignore[no-untyped-call]
                "XRANGE", stream, entry_id, entry_id, **{NEVER_DECODE: True}
            )
            if not found:
                await self._redis.xack(stream, group, entry_id)
                continue
            try:
                output = reply(text_fields(found[0][1])[DATA_FIELD])
            except (InvalidEntry, ValidationError, KeyError):
                continue  # unreadable: the streams layer dead-letters it if read again
            data: Any = encode(output)["data"]
            acked = await self._script(keys=[stream, output_stream], args=[group, entry_id, data])
            if acked == 1:
                log.warning(
                    "answered for a dead worker",
                    worker_id=worker_id,
                    stream=stream,
                    request_id=output.request_id,
                )
                answered.append(output.request_id)
        return answered

    async def _take_waiting(self, worker_id: str, stream: str, group: str) -> None:
        """Take, in the dead developer worker's name, every run its own stream still holds for
        it: they become pending to it and are answered with the rest."""
        try:
            # From the start, as the worker would have: its group may never have been made.
            await self._redis.xgroup_create(stream, group, id="0")
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                return  # no stream: nothing was ever sent to it
        while True:
            try:
                taken = await raw.xreadgroup(
                    self._reader,
                    group=group,
                    consumer=worker_id,
                    stream=stream,
                    count=_TAKE_BATCH,
                    block_ms=1,
                )
            except ResponseError as exc:
                # The worker's remains (its streams) were deleted meanwhile: nothing is left to
                # take. Anything else is Redis's trouble, for the caller.
                if "UNBLOCKED" in str(exc) or "NOGROUP" in str(exc):
                    return
                raise
            if len(taken) < _TAKE_BATCH:
                return
