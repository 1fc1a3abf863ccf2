"""The pytest plugin's servers are real, isolated per test, restartable, and never the user's."""

from __future__ import annotations

import asyncpg
import pytest
import redis
from shared.testing.plugin import TEST_DATABASE_URL, TEST_DOCKER_HOST, TEST_REDIS_URL
from shared.testing.servers import PostgresServer, RedisServer

pytest_plugins = ["pytester"]

_databases_used: list[str] = []


@pytest.mark.parametrize("run", [1, 2])
async def test_each_test_gets_a_fresh_database_that_is_dropped_after_it(
    database_url: str, run: int
) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute("CREATE TABLE marker (id int)")  # fails if the table leaked
        version = await connection.fetchval("SHOW server_version")
    finally:
        await connection.close()
    assert version.startswith("16")
    for earlier in _databases_used:
        with pytest.raises(asyncpg.InvalidCatalogNameError):
            await asyncpg.connect(earlier)
    _databases_used.append(database_url)


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
    stoppable_postgres: PostgresServer, database_url: str
) -> None:
    stoppable_postgres.stop()
    try:
        with pytest.raises(OSError):
            await asyncpg.connect(database_url, timeout=2)
    finally:
        stoppable_postgres.start()
    connection = await asyncpg.connect(database_url)
    await connection.close()


_INNER_TEST = """
import os

import redis


def test_the_plugin_uses_servers_of_its_own(redis_url, database_url, docker_host):
    assert redis_url != os.environ["REDIS_URL"]
    assert database_url.rpartition("/")[0] != os.environ["DATABASE_URL"].rpartition("/")[0]
    assert docker_host != os.environ["DOCKER_HOST"]
    redis.Redis.from_url(redis_url).set("written-by-the-inner-test", 1)
"""


def test_the_services_own_settings_never_point_the_plugin_at_a_users_servers(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    redis_url: str,
    database_url: str,
) -> None:
    """A shell set up to run the system exports REDIS_URL and DATABASE_URL: a test run from it
    must neither flush that Redis nor create databases on that Postgres."""
    users_redis = redis.Redis.from_url(redis_url)
    users_redis.set("users-data", "keep me")
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/users-engine.sock")
    for variable in [TEST_REDIS_URL, TEST_DATABASE_URL, TEST_DOCKER_HOST]:
        monkeypatch.delenv(variable, raising=False)
    pytester.makepyfile(test_inner=_INNER_TEST)

    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")

    result.assert_outcomes(passed=1)
    try:
        assert users_redis.get("users-data") == b"keep me"
        assert users_redis.get("written-by-the-inner-test") is None
    finally:
        users_redis.close()
