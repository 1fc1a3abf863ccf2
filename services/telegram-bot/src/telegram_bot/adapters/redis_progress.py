"""Followed tasks in Redis, and their progress streams read together with one blocking XREAD.

Each followed task is a JSON record (`telegram-bot:task:{task_id}`) with the last entry shown,
and a member of `telegram-bot:following`: after a restart the bot reads on from there."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import structlog
from pydantic import TypeAdapter, ValidationError
from redis.asyncio import Redis
from redis.client import NEVER_DECODE
from shared.keys import WEEK_S
from shared.streams import raw
from shared.streams.registry import TASK_PROGRESS
from shared.streams.wire import InvalidEntry, decode, text_fields

from telegram_bot.adapters.redis_errors import redis_unavailable
from telegram_bot.domain.progress import ProgressEntry
from telegram_bot.keys import FOLLOWED_TASK, FOLLOWING
from telegram_bot.ports import FollowedTask

log = structlog.get_logger("telegram_bot")

_RECORD = TypeAdapter(FollowedTask)
READ_COUNT = 100


class RedisProgressBook:
    """`changed` is set whenever a task starts being followed: the reader of the progress
    streams takes it into its next read at once."""

    def __init__(self, redis: Redis, *, keep_s: int = WEEK_S) -> None:
        self._redis = redis
        self._keep_s = keep_s
        self.changed = asyncio.Event()
        self.changed.set()  # the first read loads what an earlier run followed

    async def knows(self, task_id: str) -> bool:
        with redis_unavailable():
            return bool(await self._redis.exists(FOLLOWED_TASK.name(task_id=task_id)))

    async def follow(self, task: FollowedTask) -> None:
        await self._write(task, following=True)
        self.changed.set()

    async def advance(self, task: FollowedTask) -> None:
        await self._write(task, following=True)

    async def end(self, task: FollowedTask) -> None:
        await self._write(task, following=False)

    async def followed(self) -> list[FollowedTask]:
        with redis_unavailable():
            task_ids = sorted(cast(set[str], await self._redis.smembers(FOLLOWING.name())))
            records = (
                cast(
                    list[str | None],
                    await self._redis.mget([FOLLOWED_TASK.name(task_id=t) for t in task_ids]),
                )
                if task_ids
                else []
            )
        tasks = []
        for task_id, record in zip(task_ids, records, strict=True):
            try:
                if record is None:
                    raise ValueError("its record expired")
                tasks.append(_RECORD.validate_json(record))
            except (ValidationError, ValueError) as exc:
                log.warning("a followed task is given up", task_id=task_id, error=str(exc)[:300])
                with redis_unavailable():
                    await self._redis.srem(FOLLOWING.name(), task_id)
        return tasks

    async def _write(self, task: FollowedTask, *, following: bool) -> None:
        with redis_unavailable():
            async with self._redis.pipeline(transaction=True) as tx:
                tx.set(
                    FOLLOWED_TASK.name(task_id=task.task_id),
                    _RECORD.dump_json(task).decode(),
                    ex=self._keep_s,
                )
                if following:
                    tx.sadd(FOLLOWING.name(), task.task_id)
                else:
                    tx.srem(FOLLOWING.name(), task.task_id)
                await tx.execute()


class RedisProgressFeed:
    """Entries of many tasks' `task_progress:{task_id}` streams, from one blocking XREAD."""

    def __init__(self, redis: Redis) -> None:
        self._reader = raw.raw_reader(redis)

    async def read(
        self, after: dict[str, str], within_s: float
    ) -> list[tuple[str, str, ProgressEntry | None]]:
        if not after:
            return []
        streams = {TASK_PROGRESS.name(task_id=task_id): task_id for task_id in after}
        with redis_unavailable():
            response = await self._reader.execute_command(  # type: ignore[no-untyped-call]
                "XREAD", "COUNT", READ_COUNT, "BLOCK", max(1, int(within_s * 1000)),
                "STREAMS", *streams, *after.values(),
                **{NEVER_DECODE: True},
            )  # fmt: skip
        found: list[tuple[str, str, ProgressEntry | None]] = []
        for stream, entries in _pairs(response):
            task_id = streams.get(_text(stream))
            if task_id is None:
                continue
            for entry_id, fields in entries or []:
                found.append((task_id, _text(entry_id), _entry(task_id, entry_id, fields)))
        return found


def _entry(task_id: str, entry_id: Any, fields: Any) -> ProgressEntry | None:
    try:
        return cast(ProgressEntry, decode(text_fields(fields or []), TASK_PROGRESS.adapter))
    except InvalidEntry as exc:
        log.error(
            "skipped an invalid progress entry",
            task_id=task_id,
            entry_id=_text(entry_id),
            error=str(exc)[:300],
        )
        return None


def _pairs(response: Any) -> list[tuple[Any, Any]]:
    """XREAD's answer: a map (RESP3) or a list of pairs (RESP2) of stream → entries."""
    if not response:
        return []
    return list(response.items()) if isinstance(response, dict) else list(response)


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else value
