"""Reporting a dead developer worker's unfinished task to the single listener, exactly once."""

from __future__ import annotations

from typing import Any, cast

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from shared.contracts import DeveloperWorkerInput, DeveloperWorkerOutput, OutcomeStatus
from shared.streams.registry import DEVELOPER_INPUT, DEVELOPER_OUTPUT
from shared.streams.wire import encode

log = structlog.get_logger("worker_manager")
GROUP = "developer-workers"

# XACK decides who reports: the wrapper (it acknowledges after publishing its own output), a
# lifecycle event and the process watcher may all try, and only the one whose XACK removed the
# entry publishes, in the same atomic step.
_ACK_AND_REPORT = """
local acked = redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
if acked == 1 then redis.call('XADD', KEYS[2], '*', 'data', ARGV[3]) end
return acked
"""


class UnfinishedWork:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._script = redis.register_script(_ACK_AND_REPORT)

    async def report(self, worker_id: str, reason: str, exit_code: int | None) -> list[str]:
        """Fail every input the worker took and did not acknowledge; returns their task ids."""
        stream = DEVELOPER_INPUT.pattern
        try:
            pending = await self._redis.xpending_range(
                stream, GROUP, min="-", max="+", count=100, consumername=worker_id
            )
        except Exception as exc:  # no group yet: the worker never took anything
            if "NOGROUP" in str(exc):
                return []
            raise
        reported = []
        for item in pending:
            entry_id = str(item["message_id"])
            entries = cast(
                list[tuple[str, dict[str, str]]],
                await self._redis.xrange(stream, entry_id, entry_id),
            )
            if not entries:
                await self._redis.xack(stream, GROUP, entry_id)
                continue
            try:
                task = DeveloperWorkerInput.model_validate_json(entries[0][1]["data"])
            except (ValidationError, KeyError):
                continue  # the streams layer dead-letters it on its next delivery
            output = DeveloperWorkerOutput(
                request_id=task.request_id,
                correlation_id=task.correlation_id,
                task_id=task.task_id,
                worker_id=worker_id,
                status=OutcomeStatus.ERROR,
                error=reason,
                exit_code=exit_code,
            )
            data: Any = encode(output)["data"]
            acked = await self._script(
                keys=[stream, DEVELOPER_OUTPUT.pattern], args=[GROUP, entry_id, data]
            )
            if acked == 1:
                log.warning(
                    "reported a dead worker's task",
                    worker_id=worker_id,
                    task_id=task.task_id,
                    reason=reason,
                )
                reported.append(task.task_id)
        return reported
