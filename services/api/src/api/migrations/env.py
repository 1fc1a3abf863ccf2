"""Alembic environment: async engine, the API's metadata, the URL from the caller or settings."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import text
from sqlalchemy.engine import Connection

from api.db import make_engine
from api.models import Base

config = context.config
# Taken for the migration's transaction: a second run at once (two `api-create-admin` one-shots)
# waits, then finds the schema at head instead of creating it again.
MIGRATION_LOCK = 0x636F646567656E  # "codegen"


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    from api.config import ApiSettings

    return ApiSettings().database_url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
    with context.begin_transaction():
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def _run_online() -> None:
    engine = make_engine(_database_url(), pool_size=1)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
    await engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
asyncio.run(_run_online())
