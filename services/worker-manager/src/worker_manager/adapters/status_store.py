"""`worker:status:{id}`: what clients read about a worker, and what worker-manager needs to
manage it (backend handle, key id, last activity). `workers:live` indexes the live ones,
`workers:ended` the ended ones whose container, processes or workspace are still to be removed.

Once a final state is written, the status key expires after `finished_ttl_s`, and so does the
worker's heartbeat key if it has no lifetime of its own (a killed wrapper's lasts its own TTL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis
from shared.contracts import WorkerState, WorkerStatus, WorkerType

from worker_manager.domain.status import FINAL, LIVE

LIVE_SET = "workers:live"
ENDED_SET = "workers:ended"
# Never lengthens a lifetime: a key that expires already keeps its own.
_EXPIRE_IF_PERSISTENT = """
if redis.call('TTL', KEYS[1]) == -1 then return redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return 0
"""
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


def heartbeat_key(worker_id: str) -> str:
    return f"worker:heartbeat:{worker_id}"


def now() -> str:
    return datetime.now(UTC).isoformat()


class StatusStore:
    def __init__(self, redis: Redis, *, finished_ttl_s: int = 24 * 3600) -> None:
        self._redis = redis
        self._finished_ttl_s = finished_ttl_s
        self._expire_if_persistent = redis.register_script(_EXPIRE_IF_PERSISTENT)

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
            if state in FINAL:
                tx.expire(status_key(worker_id), self._finished_ttl_s)
                tx.sadd(ENDED_SET, worker_id)
            await tx.execute()
        if state in FINAL:
            await self._expire_if_persistent(
                keys=[heartbeat_key(worker_id)], args=[self._finished_ttl_s]
            )

    async def live(self) -> list[str]:
        return sorted(cast(set[str], await self._redis.smembers(LIVE_SET)))

    async def ended(self) -> list[str]:
        """Ended workers whose remains are still to be removed."""
        return sorted(cast(set[str], await self._redis.smembers(ENDED_SET)))

    async def removed(self, worker_id: str) -> None:
        await self._redis.srem(ENDED_SET, worker_id)
