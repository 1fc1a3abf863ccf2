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

from worker_manager.domain.status import FINAL

LIVE_SET = "workers:live"
ENDED_SET = "workers:ended"
# KEYS: status, live set, ended set, heartbeat. ARGV: worker id, new state or '', TTL, then
# field/value pairs. A final state is never left: an update that would change it is refused
# whole (two replicas, or the watcher and a delete, may both see a worker end); nor is an expired
# status brought back by a late update. The heartbeat's lifetime is never lengthened: a key that
# expires already keeps its own.
_UPDATE = """
local final = {FINAL_STATES}
local state = ARGV[2]
local current = redis.call('HGET', KEYS[1], 'state')
if not current then return 0 end
if state ~= '' and final[current] and current ~= state then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 4))
if final[state] then
  redis.call('SREM', KEYS[2], ARGV[1])
  redis.call('EXPIRE', KEYS[1], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[1])
  if redis.call('TTL', KEYS[4]) == -1 then redis.call('EXPIRE', KEYS[4], ARGV[3]) end
end
return 1
""".replace("FINAL_STATES", ", ".join(f"{state.value}=true" for state in sorted(FINAL)))

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
        self._update = redis.register_script(_UPDATE)

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

    async def update(self, worker_id: str, state: WorkerState | None = None, **fields: Any) -> bool:
        """Write fields (and a state); False, writing nothing, if it would leave a final state."""
        values = {k: "" if v is None else str(v) for k, v in fields.items()}
        values["updated_at"] = now()
        if state is not None:
            values["state"] = state.value
        pairs = [item for pair in values.items() for item in pair]
        written = await self._update(
            keys=[status_key(worker_id), LIVE_SET, ENDED_SET, heartbeat_key(worker_id)],
            args=[worker_id, state.value if state else "", self._finished_ttl_s, *pairs],
        )
        return bool(written)

    async def live(self) -> list[str]:
        return sorted(cast(set[str], await self._redis.smembers(LIVE_SET)))

    async def ended(self) -> list[str]:
        """Ended workers whose remains are still to be removed."""
        return sorted(cast(set[str], await self._redis.smembers(ENDED_SET)))

    async def removed(self, worker_id: str) -> None:
        await self._redis.srem(ENDED_SET, worker_id)
