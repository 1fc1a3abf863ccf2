"""The baseline for bench/api.py: a bare FastAPI + asyncpg app doing the same insert and select.

No auth, no validation beyond FastAPI's, no ORM, no error mapping. Run by bench/api.py.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import uvicorn
from fastapi import FastAPI, Request

INSERT = """
INSERT INTO tasks (id, project_id, owner_id, type, status, spec, created_at, updated_at)
SELECT $1, p.id, p.owner_id, $3, 'queued', $4, now(), now() FROM projects p WHERE p.id = $2
RETURNING *
"""


def make_app(database_url: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(database_url, min_size=10, max_size=10)
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/api/tasks", status_code=201)
    async def create(request: Request, body: dict[str, Any]) -> dict[str, Any]:
        row = await request.app.state.pool.fetchrow(
            INSERT, uuid.uuid4().hex, body["project_id"], body["type"], body.get("spec", "")
        )
        return dict(row)

    @app.get("/api/tasks/{task_id}")
    async def read(request: Request, task_id: str) -> dict[str, Any]:
        row = await request.app.state.pool.fetchrow("SELECT * FROM tasks WHERE id = $1", task_id)
        return dict(row)

    return app


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(make_app(args.database_url), host="127.0.0.1", port=args.port, log_level="warning")
