"""Health follows the database; the migration yields exactly the models' schema."""

from __future__ import annotations

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


def test_revision_0002_adds_the_tested_commit_and_its_downgrade_drops_it(
    database_url: str,
) -> None:
    upgrade(database_url, "0001")
    before = _columns(database_url, "projects")
    upgrade(database_url, "0002")
    after = _columns(database_url, "projects")
    downgrade(database_url, "0001")

    assert "commit_sha" not in before
    assert after["commit_sha"] == ("character varying", "YES")
    assert after["status"] == ("character varying", "NO")  # `ready` needs no DDL: no enum type
    assert _columns(database_url, "projects") == before


def test_revision_0003_leaves_existing_keys_unscoped_and_its_downgrade_drops_scopes(
    database_url: str,
) -> None:
    upgrade(database_url, "0002")
    before = _columns(database_url, "api_keys")
    _execute(
        database_url,
        "INSERT INTO api_keys (id, name, key_hash, prefix, principal)"
        " VALUES ('" + "a" * 32 + "', 'old', '" + "0" * 64 + "', 'cgo_abcdef', 'service')",
    )
    upgrade(database_url, "0003")
    after = _columns(database_url, "api_keys")
    scopes = _execute(database_url, "SELECT scopes FROM api_keys")
    downgrade(database_url, "0002")

    assert after["scopes"] == ("jsonb", "YES")
    assert scopes == [None]
    assert _columns(database_url, "api_keys") == before


def _execute(url: str, sql: str) -> list[object]:
    """The first column of each row the statement returns."""
    import asyncio

    async def run() -> list[object]:
        connection = await asyncpg.connect(url)
        try:
            return [r[0] for r in await connection.fetch(sql)]
        finally:
            await connection.close()

    return asyncio.run(run())


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


def _columns(url: str, table: str) -> dict[str, tuple[str, str]]:
    """Each column's (data type, nullable)."""
    import asyncio

    async def run() -> dict[str, tuple[str, str]]:
        connection = await asyncpg.connect(url)
        try:
            rows = await connection.fetch(
                "SELECT column_name, data_type, is_nullable FROM information_schema.columns"
                " WHERE table_schema = 'public' AND table_name = $1",
                table,
            )
        finally:
            await connection.close()
        return {r["column_name"]: (r["data_type"], r["is_nullable"]) for r in rows}

    return asyncio.run(run())
