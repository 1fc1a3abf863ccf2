"""A flow's lock: a Postgres advisory lock on a connection held while its thread runs. A
process that dies loses its connection, and Postgres releases the lock with it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg import AsyncConnection, errors
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from langgraph_service.ports import LockTimeout

KEY = "hashtextextended('codegen-langgraph-flow:' || %(thread)s, 0)"


def open_lock_pool(conninfo: str, *, max_size: int, timeout_s: float) -> AsyncConnectionPool[Any]:
    """Connections that hold flows' locks: each waits at most `timeout_s` for a lock, and goes
    back to the pool holding none, whatever happened (the pool's reset unlocks all)."""
    return AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        kwargs={
            "autocommit": True,
            "prepare_threshold": None,
            "row_factory": dict_row,
            "options": f"-c lock_timeout={int(timeout_s * 1000)}",
        },
        open=False,
        name="flow-locks",
        reset=_unlock_all,
    )


class PostgresLocks:
    """Locks held on connections of `open_lock_pool`'s pool: the lock is released when the
    connection goes back to it (or when a dead process's connection closes)."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    @asynccontextmanager
    async def hold(self, thread_id: str) -> AsyncIterator[None]:
        async with self._pool.connection() as connection:
            try:
                await connection.execute(f"select pg_advisory_lock({KEY})", {"thread": thread_id})
            except errors.LockNotAvailable as exc:
                raise LockTimeout(f"flow {thread_id} stayed locked by another process") from exc
            yield

    @asynccontextmanager
    async def try_hold(self, thread_id: str) -> AsyncIterator[bool]:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(
                f"select pg_try_advisory_lock({KEY}) as held", {"thread": thread_id}
            )
            row = await cursor.fetchone()
            yield bool(row and row["held"])


async def _unlock_all(connection: AsyncConnection[Any]) -> None:
    await connection.execute("select pg_advisory_unlock_all()")
