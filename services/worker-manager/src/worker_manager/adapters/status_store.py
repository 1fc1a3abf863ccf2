"""`worker:status:{id}`: what clients read about a worker, and what worker-manager needs to
manage it (backend handle, key id, last activity). `workers:live` indexes the live ones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis
from shared.contracts import WorkerState, WorkerStatus, WorkerType

from worker_manager.domain.status import LIVE

LIVE_SET = "workers:live"
PUBLIC = (
    "worker_id",
    "worker_type",
    "state",
    "started_at",
    "updated_at",
    "exit_code",
    "error",
    "current_task_id",
    "current_request_id",
)


def status_key(worker_id: str) -> str:
    return f"worker:status:{worker_id}"


def now() -> str:
    return datetime.now(UTC).isoformat()


class StatusStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def create(self, worker_id: str, worker_type: WorkerType, **fields: str) -> None:
        stamp = now()
        async with self._redis.pipeline(transaction=True) as tx:
            tx.hset(
                status_key(worker_id),
                mapping=cast(
                    Any,
                    {
                        "worker_id": worker_id,
                        "worker_type": worker_type.value,
                        "state": WorkerState.STARTING.value,
                        "started_at": stamp,
                        "updated_at": stamp,
                        "last_active_at": stamp,
                        **fields,
                    },
                ),
            )
            tx.sadd(LIVE_SET, worker_id)
            await tx.execute()

    async def record(self, worker_id: str) -> dict[str, str]:
        return cast(dict[str, str], await self._redis.hgetall(status_key(worker_id)))

    async def status(self, worker_id: str) -> WorkerStatus | None:
        record = await self.record(worker_id)
        if not record:
            return None
        public: dict[str, Any] = {k: v for k, v in record.items() if k in PUBLIC and v != ""}
        return WorkerStatus.model_validate(public)

    async def update(self, worker_id: str, state: WorkerState | None = None, **fields: Any) -> None:
        values = {k: "" if v is None else str(v) for k, v in fields.items()}
        values["updated_at"] = now()
        if state is not None:
            values["state"] = state.value
        async with self._redis.pipeline(transaction=True) as tx:
            tx.hset(status_key(worker_id), mapping=cast(Any, values))
            if state is not None and state not in LIVE:
                tx.srem(LIVE_SET, worker_id)
            await tx.execute()

    async def live(self) -> list[str]:
        return sorted(cast(set[str], await self._redis.smembers(LIVE_SET)))
