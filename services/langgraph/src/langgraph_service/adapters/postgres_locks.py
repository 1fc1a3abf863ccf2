"""A flow's lock: a Postgres advisory lock on a connection held while its thread runs. A
process that dies loses its connection, and Postgres releases the lock with it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import AsyncConnection, errors
from psycopg_pool import AsyncConnectionPool

from langgraph_service.ports import LockTimeout

KEY = "hashtextextended('codegen-langgraph-flow:' || %(thread)s, 0)"


class PostgresLocks:
    def __init__(self, pool: AsyncConnectionPool[Any], *, timeout_s: float) -> None:
        self._pool = pool
        self._timeout_ms = str(int(timeout_s * 1000))

    @asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        async with self._pool.connection() as connection:
            try:
                await connection.execute(
                    "select set_config('lock_timeout', %(ms)s, false)", {"ms": self._timeout_ms}
                )
                await connection.execute(f"select pg_advisory_lock({KEY})", {"thread": thread_id})
            except errors.LockNotAvailable as exc:
                raise LockTimeout(f"flow {thread_id} stayed locked by another process") from exc
            try:
                yield
            finally:
                await _unlock(connection, thread_id)

    @asynccontextmanager
    async def try_hold(self, thread_id: str) -> AsyncIterator[bool]:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                f"select pg_try_advisory_lock({KEY}) as held",
                {"thread": thread_id},
            )
            row = await cursor.fetchone()
            held = bool(row and row["held"])
            try:
                yield held
            finally:
                if held:
                    await _unlock(connection, thread_id)


async def _unlock(connection: AsyncConnection[Any], thread_id: str) -> None:
    # A broken connection took the lock with it; the pool's reset unlocks a healthy one anyway.
    with contextlib.suppress(psycopg.Error):
        await connection.execute(f"select pg_advisory_unlock({KEY})", {"thread": thread_id})
