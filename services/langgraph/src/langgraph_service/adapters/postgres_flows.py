"""The flows table: one row per thread, with what it waits for and until when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool

from langgraph_service.ports import FlowRow

DDL = [
    """create table if not exists flows (
        thread_id text primary key,
        graph text not null,
        status text not null,
        request_id text,
        stream text,
        deadline timestamptz,
        created_at timestamptz not null default now(),
        updated_at timestamptz not null default now()
    )""",
    "create index if not exists flows_by_status on flows (status, deadline, updated_at)",
]


class PostgresFlows:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def _execute(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        async with self._pool.connection() as connection:
            cursor = await connection.execute(query, params)
            return list(await cursor.fetchall()) if cursor.description else []

    async def graph_of(self, thread_id: str) -> str | None:
        rows = await self._execute(
            "select graph from flows where thread_id = %(thread)s", {"thread": thread_id}
        )
        return str(rows[0]["graph"]) if rows else None

    async def row(self, thread_id: str) -> FlowRow | None:
        rows = await self._execute(
            """select thread_id, graph, status, request_id, deadline from flows
               where thread_id = %(thread)s""",
            {"thread": thread_id},
        )
        return FlowRow(**rows[0]) if rows else None

    async def running(self, thread_id: str, graph: str) -> None:
        await self._execute(
            """insert into flows (thread_id, graph, status)
               values (%(thread)s, %(graph)s, 'running')
               on conflict (thread_id) do update set status = 'running', request_id = null,
                   stream = null, deadline = null, updated_at = now()""",
            {"thread": thread_id, "graph": graph},
        )

    async def waiting(
        self, thread_id: str, *, request_id: str, stream: str, deadline: datetime
    ) -> None:
        await self._execute(
            """update flows set status = 'waiting', request_id = %(request)s, stream = %(stream)s,
                   deadline = %(deadline)s, updated_at = now() where thread_id = %(thread)s""",
            {"thread": thread_id, "request": request_id, "stream": stream, "deadline": deadline},
        )

    async def done(self, thread_id: str) -> None:
        await self._execute(
            """update flows set status = 'done', request_id = null, stream = null,
                   deadline = null, updated_at = now() where thread_id = %(thread)s""",
            {"thread": thread_id},
        )

    async def overdue(self, now: datetime, stalled_before: datetime, limit: int) -> list[FlowRow]:
        rows = await self._execute(
            """select thread_id, graph, status, request_id, deadline from flows
               where (status = 'waiting' and deadline < %(now)s)
                  or (status = 'running' and updated_at < %(stalled)s)
               order by coalesce(deadline, updated_at) limit %(limit)s""",
            {"now": now, "stalled": stalled_before, "limit": limit},
        )
        return [FlowRow(**row) for row in rows]

    async def unfinished(self, after: str, limit: int) -> list[str]:
        rows = await self._execute(
            """select thread_id from flows where status <> 'done' and thread_id > %(after)s
               order by thread_id limit %(limit)s""",
            {"after": after, "limit": limit},
        )
        return [str(row["thread_id"]) for row in rows]
