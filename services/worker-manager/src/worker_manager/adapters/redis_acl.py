"""Each worker's two Redis users (ACL SETUSER, Redis 6.2 and 7): the wrapper's, limited to its
own worker's keys, and the agent's, limited to what its ALLOWED_COMMANDS need. Both are deleted
when the worker ends; deleting a user closes its connections."""

from __future__ import annotations

import secrets
from urllib.parse import quote, urlsplit, urlunsplit

from redis.asyncio import Redis
from shared.contracts import WorkerType
from shared.keys import CONSUMER_FAILURES, WORKER_HEARTBEAT, WORKER_SESSION
from shared.permissions import RedisRight
from shared.streams.registry import (
    DEVELOPER_INPUT,
    DEVELOPER_OUTPUT,
    PO_INPUT,
    PO_OUTPUT,
    WORKER_LIFECYCLE,
    Group,
    dlq_stream,
)

from worker_manager.ports import WorkerRedisUrls

USER_PREFIX = "worker."
# Every connection authenticates and may ask for its protocol and name; nothing else is free.
CONNECTION = ("ping", "hello", "auth", "client|setname", "client|getname", "client|id")
# What the wrapper does: consume its input stream (the kernel's StreamConsumer), publish its
# output and lifecycle, keep its heartbeat and session, read back its interim replies.
WRAPPER_COMMANDS = (
    "xadd", "xreadgroup", "xgroup|create", "xack", "xclaim", "xautoclaim", "xpending", "xrange",
    "xrevrange", "xlen", "hget", "hset", "hdel", "get", "set", "del", "multi", "exec", "discard",
)  # fmt: skip


def wrapper_keys(worker_id: str, worker_type: WorkerType) -> tuple[str, ...]:
    if worker_type is WorkerType.PO:
        inbox, group = PO_INPUT.name(worker_id=worker_id), Group.PO_WORKER
        outputs = (PO_OUTPUT.name(worker_id=worker_id),)
    else:
        inbox, group = DEVELOPER_INPUT.name(worker_id=worker_id), Group.DEVELOPER_WORKERS
        outputs = (DEVELOPER_OUTPUT.pattern,)
    return (
        inbox,
        dlq_stream(inbox),
        CONSUMER_FAILURES.name(stream=inbox, group=group),
        *outputs,
        WORKER_LIFECYCLE.pattern,
        WORKER_HEARTBEAT.name(worker_id=worker_id),
        WORKER_SESSION.name(worker_id=worker_id),
    )


class RedisAcl:
    """The `WorkerAccess` port on Redis ACLs. `worker_redis_url` is the address workers reach
    Redis at; the users' names and passwords replace its credentials."""

    def __init__(self, redis: Redis, worker_redis_url: str) -> None:
        self._redis = redis
        self._url = worker_redis_url

    async def grant(
        self, worker_id: str, worker_type: WorkerType, agent_rights: tuple[RedisRight, ...]
    ) -> WorkerRedisUrls:
        wrapper = [f"+{c}" for c in WRAPPER_COMMANDS]
        wrapper += [f"~{key}" for key in wrapper_keys(worker_id, worker_type)]
        agent: list[str] = []
        for right in agent_rights:
            agent += [f"+{c}" for c in right.commands] + [f"~{key}" for key in right.keys]
        return WorkerRedisUrls(
            wrapper=await self._set_user(user_name(worker_id, "wrapper"), wrapper),
            agent=await self._set_user(user_name(worker_id, "agent"), agent),
        )

    async def revoke(self, worker_id: str) -> None:
        names = (user_name(worker_id, "wrapper"), user_name(worker_id, "agent"))
        await self._redis.execute_command("ACL", "DELUSER", *names)  # type: ignore[no-untyped-call]

    async def holders(self) -> set[str]:
        """The workers that hold Redis users."""
        users = await self._redis.execute_command("ACL", "USERS")  # type: ignore[no-untyped-call]
        return {
            name[len(USER_PREFIX) :].rsplit(".", 1)[0]
            for name in map(str, users)
            if name.startswith(USER_PREFIX)
        }

    async def _set_user(self, name: str, rules: list[str]) -> str:
        password = secrets.token_urlsafe(32)
        # `reset` first: a user left by a crash is replaced whole, never widened.
        await self._redis.execute_command(  # type: ignore[no-untyped-call]
            "ACL", "SETUSER", name, "reset", "on", f">{password}", "resetchannels",
            "-@all", *(f"+{c}" for c in CONNECTION), *rules,
        )  # fmt: skip
        return with_credentials(self._url, name, password)


def user_name(worker_id: str, role: str) -> str:
    return f"{USER_PREFIX}{worker_id}.{role}"


def with_credentials(url: str, username: str, password: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{quote(username, safe='')}:{quote(password, safe='')}@{host}"
    if parts.port:
        netloc += f":{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class SharedRedis:
    """The `WorkerAccess` port with ACLs off (WORKER_REDIS_ACL=false): every worker and agent
    gets worker-manager's own Redis URL, with all its rights. For Redis servers that refuse ACL
    SETUSER to worker-manager; nothing in Redis then stops an agent (docs/SECURITY.md)."""

    def __init__(self, worker_redis_url: str) -> None:
        self._url = worker_redis_url

    async def grant(
        self, worker_id: str, worker_type: WorkerType, agent_rights: tuple[RedisRight, ...]
    ) -> WorkerRedisUrls:
        return WorkerRedisUrls(wrapper=self._url, agent=self._url)

    async def revoke(self, worker_id: str) -> None:
        """Nothing was granted."""

    async def holders(self) -> set[str]:
        return set()
