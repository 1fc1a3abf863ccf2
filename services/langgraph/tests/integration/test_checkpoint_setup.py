"""Replicas starting at once set up the checkpoint schema one at a time, and none waits forever:
the saver's migrations build an index CONCURRENTLY, which waits for every statement in flight,
so a replica must not sit in a blocking lock call while another one builds it."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from langgraph_service.adapters import postgres_checkpoints
from langgraph_service.adapters.postgres_flows import DDL
from psycopg_pool import AsyncConnectionPool

SCHEMA = "langgraph"


async def test_four_replicas_starting_at_once_all_set_up_the_schema(database_url: str) -> None:
    conninfo = database_url.replace("postgresql+asyncpg://", "postgresql://")
    pools: list[AsyncConnectionPool[Any]] = [
        postgres_checkpoints.open_pool(conninfo, SCHEMA, max_size=3, name=f"replica-{n}")
        for n in range(4)
    ]
    try:
        for pool in pools:
            await pool.open(wait=True, timeout=30)
        await asyncio.wait_for(
            asyncio.gather(*(postgres_checkpoints.set_up(pool, SCHEMA, DDL) for pool in pools)),
            timeout=90,
        )
    finally:
        for pool in pools:
            await pool.close()
    with psycopg.connect(conninfo) as connection:
        tables = {
            row[0]
            for row in connection.execute(
                "select tablename from pg_tables where schemaname = %s", (SCHEMA,)
            )
        }
        locks = connection.execute(
            "select count(*) from pg_locks where locktype = 'advisory'"
        ).fetchone()
    assert {"checkpoints", "checkpoint_writes"} <= tables
    assert locks == (0,)
