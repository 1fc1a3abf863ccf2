"""The checkpoints and the flows table in the API's Postgres, in a schema of their own
(created at start-up, by one replica at a time)."""

from __future__ import annotations

import asyncio
from typing import Any

from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

# Two replicas starting at once must not both create the same tables.
SETUP_TRY_LOCK = (
    "select pg_try_advisory_lock(hashtextextended('codegen-langgraph-setup', 0)) as taken"
)
SETUP_UNLOCK = "select pg_advisory_unlock(hashtextextended('codegen-langgraph-setup', 0))"


def connection_kwargs(schema: str) -> dict[str, Any]:
    return {
        "autocommit": True,
        "prepare_threshold": None,
        "row_factory": dict_row,
        "options": f"-c search_path={schema}",
    }


def open_pool(conninfo: str, schema: str, *, max_size: int, name: str) -> AsyncConnectionPool[Any]:
    return AsyncConnectionPool(
        conninfo,
        min_size=1,
        max_size=max_size,
        kwargs=connection_kwargs(schema),
        open=False,
        name=name,
    )


async def set_up(
    pool: AsyncConnectionPool[Any], schema: str, flows_ddl: list[str], *, retry_s: float = 0.2
) -> None:
    async with pool.connection() as connection:
        # The lock is asked for again and again, never waited for in pg_advisory_lock: a replica
        # blocked in that call is a statement in flight, which the saver's CREATE INDEX
        # CONCURRENTLY (run by the replica holding the lock) waits for. Both would wait forever.
        while True:
            answer = await (await connection.execute(SETUP_TRY_LOCK)).fetchone()
            if answer["taken"]:
                break
            await asyncio.sleep(retry_s)
        try:
            await connection.execute(f'create schema if not exists "{schema}"')
            await AsyncPostgresSaver(pool).setup()
            for statement in flows_ddl:
                await connection.execute(statement)
        finally:
            await connection.execute(SETUP_UNLOCK)


def saver(pool: AsyncConnectionPool[Any]) -> AsyncPostgresSaver:
    return AsyncPostgresSaver(pool)
