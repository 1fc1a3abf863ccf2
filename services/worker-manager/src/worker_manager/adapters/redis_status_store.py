"""`worker:status:{id}` in Redis: what clients read about a worker, and what worker-manager needs
to manage it (backend handle, key id, last activity). `workers:live` indexes the live ones,
`workers:ended` the ended ones whose container, processes or workspace are still to be removed.

Once a final state is written, the status key expires after `finished_ttl_s`, and so does the
worker's heartbeat key if it has no lifetime of its own (a killed wrapper's lasts its own TTL)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from redis.asyncio import Redis
from shared.contracts import WorkerState, WorkerStatus, WorkerType
from shared.keys import WORKER_HEARTBEAT, WORKER_STATUS, WORKERS_ENDED, WORKERS_LIVE

from worker_manager.domain.record import WorkerRecord
from worker_manager.domain.status import FINAL

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


def now() -> str:
    return datetime.now(UTC).isoformat()


class RedisStatusStore:
    def __init__(self, redis: Redis, *, finished_ttl_s: int = 24 * 3600) -> None:
        self._redis = redis
        self._finished_ttl_s = finished_ttl_s
        self._update = redis.register_script(_UPDATE)

    async def create(self, worker_id: str, worker_type: WorkerType, **fields: str) -> None:
        stamp = now()
        async with self._redis.pipeline(transaction=True) as tx:
            tx.hset(
                WORKER_STATUS.name(worker_id=worker_id),
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
            tx.sadd(WORKERS_LIVE.name(), worker_id)
            await tx.execute()

    async def record(self, worker_id: str) -> WorkerRecord | None:
        fields = await self._fields(worker_id)
        return WorkerRecord.from_fields(fields) if fields else None

    async def status(self, worker_id: str) -> WorkerStatus | None:
        fields = await self._fields(worker_id)
        return cast(WorkerStatus, WORKER_STATUS.parse(fields)) if fields else None

    async def _fields(self, worker_id: str) -> dict[str, str]:
        key = WORKER_STATUS.name(worker_id=worker_id)
        return cast(dict[str, str], await self._redis.hgetall(key))

    async def update(
        self, worker_id: str, state: WorkerState | None = None, /, **fields: Any
    ) -> bool:
        """Write fields (and a state); False, writing nothing, if it would leave a final state."""
        values = {k: "" if v is None else str(v) for k, v in fields.items()}
        values["updated_at"] = now()
        if state is not None:
            values["state"] = state.value
        pairs = [item for pair in values.items() for item in pair]
        keys = [
            WORKER_STATUS.name(worker_id=worker_id),
            WORKERS_LIVE.name(),
            WORKERS_ENDED.name(),
            WORKER_HEARTBEAT.name(worker_id=worker_id),
        ]
        written = await self._update(
            keys=keys, args=[worker_id, state.value if state else "", self._finished_ttl_s, *pairs]
        )
        return bool(written)

    async def live(self) -> list[str]:
        return sorted(cast(set[str], await self._redis.smembers(WORKERS_LIVE.name())))

    async def ended(self) -> list[str]:
        """Ended workers whose remains are still to be removed."""
        return sorted(cast(set[str], await self._redis.smembers(WORKERS_ENDED.name())))

    async def removed(self, worker_id: str) -> None:
        await self._redis.srem(WORKERS_ENDED.name(), worker_id)
