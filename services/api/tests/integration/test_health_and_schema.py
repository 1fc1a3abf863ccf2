"""Health follows the database; the migration yields exactly the models' schema."""

from __future__ import annotations

import subprocess
import sys

import asyncpg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from api.migrations import downgrade, upgrade
from api.models import Base
from api_testing import ClientFactory, ok
from shared.testing.servers import PostgresServer


async def test_health_answers_503_while_the_database_is_down_and_recovers(
    client_for: ClientFactory, stoppable_postgres: PostgresServer
) -> None:
    client = client_for(None)
    await ok(client.get("/health"))

    stoppable_postgres.stop()
    try:
        down = await client.get("/health")
    finally:
        stoppable_postgres.start()

    assert down.status_code == 503
    assert down.json()["database"] == "unreachable"
    assert (await ok(client.get("/health")))["database"] == "ok"


def test_upgrade_head_on_an_empty_database_yields_exactly_the_models_schema(
    database_url: str,
) -> None:
    upgrade(database_url)
    differences = _diff(database_url)
    assert differences == []


def test_downgrade_removes_every_table(database_url: str) -> None:
    upgrade(database_url)
    downgrade(database_url)
    assert _tables(database_url) == ["alembic_version"]
    upgrade(database_url)
    assert _diff(database_url) == []


def _diff(url: str) -> list[object]:
    import asyncio

    async def run() -> list[object]:
        from api.db import make_engine

        engine = make_engine(url, pool_size=1)
        async with engine.connect() as connection:
            diff: list[object] = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
        await engine.dispose()
        return diff

    return asyncio.run(run())


def _tables(url: str) -> list[str]:
    import asyncio

    async def run() -> list[str]:
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
            )
        finally:
            await connection.close()
        return [r["tablename"] for r in rows]

    return asyncio.run(run())


def test_the_api_imports_nothing_that_reaches_outside_its_database() -> None:
    probe = (
        "import sys, pkgutil, importlib, api\n"
        "for m in pkgutil.walk_packages(api.__path__, 'api.'):\n"
        "    if not m.name.startswith(('api.migrations.env', 'api.migrations.versions')):\n"
        "        importlib.import_module(m.name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    forbidden = (
        "redis",
        "github",
        "httpx",
        "requests",
        "aiohttp",
        "urllib3",
        "docker",
        "ansible_runner",
        "shared.streams",
        "paramiko",
        "telegram",
        "aiogram",
    )
    reached = [m for m in loaded if m.split(".")[0] in forbidden or m.startswith(forbidden)]
    assert reached == []
    assert "api.app" in loaded
    assert "sqlalchemy.ext.asyncio" in loaded
