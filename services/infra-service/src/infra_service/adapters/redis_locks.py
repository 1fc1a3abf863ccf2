"""One job at a time per target, across replicas: Redis locks (`INFRA_DEPLOY_LOCK`,
`INFRA_PROVISION_LOCK`) that expire if their holder dies."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.lock import Lock
from shared.keys import INFRA_DEPLOY_LOCK, INFRA_PROVISION_LOCK


class RedisJobLocks:
    """A lock is held at most `hold_s` (longer than any job); the next job waits for it at most
    `wait_s`, then fails (`LockError`) and its entry is tried again later."""

    def __init__(self, redis: Redis, *, hold_s: float, wait_s: float) -> None:
        self._redis = redis
        self._hold_s = hold_s
        self._wait_s = wait_s

    def deploy(self, server_id: str, project_id: str) -> Lock:
        return self._lock(INFRA_DEPLOY_LOCK.name(server_id=server_id, project_id=project_id))

    def provision(self, server_id: str) -> Lock:
        return self._lock(INFRA_PROVISION_LOCK.name(server_id=server_id))

    def _lock(self, key: str) -> Lock:
        return self._redis.lock(key, timeout=self._hold_s, blocking_timeout=self._wait_s)
