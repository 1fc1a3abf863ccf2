"""The pytest plugin's servers are real, isolated per test, and restartable."""

from __future__ import annotations

import asyncpg
import pytest
import redis
from shared.testing.servers import PostgresServer, RedisServer

_seen_databases: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_gets_a_fresh_database_of_its_own(database_url: str, run: int) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("CREATE TABLE marker (id int)")  # fails if the table leaked
        version = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    assert version.startswith("16")
    assert database_url not in _seen_databases
    _seen_databases.append(database_url)


@pytest.mark.parametrize("run", [1, 2])
def test_each_test_starts_with_an_empty_redis(redis_url: str, run: int) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert client.dbsize() == 0
        client.set("leftover", run)
    finally:
        client.close()


def test_a_restarted_redis_keeps_its_data(restartable_redis: RedisServer, redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        client.xadd("engineering:queue", {"data": "{}"})
        restartable_redis.restart()
        assert client.xlen("engineering:queue") == 1
    finally:
        client.close()


async def test_a_stopped_postgres_refuses_connections_and_comes_back(
    postgres_server: PostgresServer | None, database_url: str
) -> None:
    if postgres_server is None:
        pytest.skip("DATABASE_URL names an external server, which this test cannot stop")
    postgres_server.stop()
    try:
        with pytest.raises(OSError):
            await asyncpg.connect(database_url, timeout=2)
    finally:
        postgres_server.start()
    connection = await asyncpg.connect(database_url)
    await connection.close()
