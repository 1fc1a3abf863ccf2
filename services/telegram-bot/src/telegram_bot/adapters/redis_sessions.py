"""The user's conversation in `po:session:{user_id}`: a hash kept 24 h after the last message."""

from __future__ import annotations

from typing import cast

from redis.asyncio import Redis
from shared.keys import DAY_S, PO_SESSION

from telegram_bot.adapters.redis_errors import redis_unavailable
from telegram_bot.domain.conversation import Session


class RedisSessions:
    def __init__(self, redis: Redis, *, ttl_s: int = DAY_S) -> None:
        self._redis = redis
        self._ttl_s = ttl_s

    async def get(self, user_id: str) -> Session | None:
        with redis_unavailable():
            raw = cast(dict[str, str], await self._redis.hgetall(PO_SESSION.name(user_id=user_id)))
        return _session(raw)

    async def live(self) -> list[tuple[str, Session]]:
        """Found with SCAN (never KEYS: Redis serves others meanwhile)."""
        prefix = PO_SESSION.name(user_id="*").removesuffix("*")
        found = []
        with redis_unavailable():
            async for key in self._redis.scan_iter(match=f"{prefix}*", count=500):
                user_id = str(key).removeprefix(prefix)
                raw = cast(dict[str, str], await self._redis.hgetall(str(key)))
                if (session := _session(raw)) is not None:
                    found.append((user_id, session))
        return found

    async def save(self, user_id: str, session: Session) -> None:
        key = PO_SESSION.name(user_id=user_id)
        with redis_unavailable():
            async with self._redis.pipeline(transaction=True) as tx:
                tx.hset(
                    key,
                    mapping={
                        "chat": session.chat,
                        "worker_id": session.worker_id or "",
                        "agent_session": session.agent_session or "",
                        "creating": session.creating or "",
                    },
                )
                tx.expire(key, self._ttl_s)
                await tx.execute()

    async def drop(self, user_id: str) -> None:
        with redis_unavailable():
            await self._redis.delete(PO_SESSION.name(user_id=user_id))


def _session(raw: dict[str, str]) -> Session | None:
    if not raw.get("chat"):
        return None
    return Session(
        chat=raw["chat"],
        worker_id=raw.get("worker_id") or None,
        agent_session=raw.get("agent_session") or None,
        creating=raw.get("creating") or None,
    )
