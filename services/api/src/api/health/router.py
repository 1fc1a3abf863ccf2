from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from shared.contracts import HealthRead
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

import api

router = APIRouter(tags=["health"])


async def _database_answers(engine: AsyncEngine, timeout_s: float) -> bool:
    try:
        async with asyncio.timeout(timeout_s), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception:
        return False
    return True


@router.get(
    "/health",
    response_model=HealthRead,
    responses={503: {"model": HealthRead, "description": "The database does not answer"}},
)
async def health(request: Request) -> JSONResponse:
    """The service's health and its database's; 503 while the database is unreachable."""
    ok = await _database_answers(request.app.state.engine, request.app.state.settings.db_timeout_s)
    body = HealthRead(
        status="ok" if ok else "degraded",
        database="ok" if ok else "unreachable",
        version=api.__version__,
    )
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)
