"""The workers worker-manager keeps, read from its keys (never written here): `workers:live`, the
ids of the workers starting, running or paused, and each one's `worker:status:{id}` hash. A hash
that is gone (the worker ended meanwhile) or does not read as a WorkerStatus is skipped, logged:
one garbled record never fails the job."""

from __future__ import annotations

from typing import cast

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from shared.contracts import WorkerStatus
from shared.keys import WORKER_STATUS, WORKERS_LIVE

log = structlog.get_logger("scheduler")
BATCH = 200


class RedisWorkers:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def live_workers(self) -> list[tuple[str, WorkerStatus]]:
        ids = sorted(cast(set[str], await self._redis.smembers(WORKERS_LIVE.name())))
        found: list[tuple[str, WorkerStatus]] = []
        for start in range(0, len(ids), BATCH):
            batch = ids[start : start + BATCH]
            keys = {worker_id: _key(worker_id) for worker_id in batch}
            readable = [worker_id for worker_id in batch if keys[worker_id] is not None]
            async with self._redis.pipeline(transaction=False) as pipe:
                for worker_id in readable:
                    pipe.hgetall(cast(str, keys[worker_id]))
                hashes = cast(list[dict[str, str]], await pipe.execute())
            for worker_id, fields in zip(readable, hashes, strict=True):
                status = _status(worker_id, fields)
                if status is not None:
                    found.append((worker_id, status))
        return found


def _key(worker_id: str) -> str | None:
    try:
        return WORKER_STATUS.name(worker_id=worker_id)
    except ValueError:
        log.warning("a live worker's id makes no key; skipped", worker_id=worker_id[:80])
        return None


def _status(worker_id: str, fields: dict[str, str]) -> WorkerStatus | None:
    if not fields:
        return None
    try:
        status = cast(WorkerStatus, WORKER_STATUS.parse(fields))
    except (ValidationError, ValueError) as exc:
        log.warning("a worker's status does not read; skipped", worker_id=worker_id,
                    error=str(exc)[:300])  # fmt: skip
        return None
    if status.worker_id != worker_id:
        log.warning("a worker's status names another worker; skipped", worker_id=worker_id)
        return None
    return status
