"""pytest plugin (registered as `codegen_servers`): real Redis and PostgreSQL for any cube's tests.

Servers start once per session, on first use, and stop at exit. `REDIS_URL` / `DATABASE_URL`
point the tests at existing servers instead; tests that restart a server then cannot run.

Fixtures:
- `redis_server`: the session's RedisServer (restartable), or None for an external one;
- `redis_url`: a URL to an emptied Redis for this test;
- `redis_client`: an async client (str responses) on that Redis, closed after the test;
- `postgres_server`: the session's PostgresServer (stoppable), or None for an external one;
- `databases`: creates and drops databases on that server (`create(template=…)` copies one);
- `database_url`: a URL (`postgresql://…`) to a fresh database of its own for this test;
- `docker_host`: a Docker-compatible engine's URL (podman's API unless DOCKER_HOST is set).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import redis
from redis.asyncio import Redis

from shared.streams.redis import connect_redis
from shared.testing.servers import Databases, PostgresServer, RedisServer, psql_binary


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | None]:
    if os.environ.get("REDIS_URL"):
        yield None
        return
    server = RedisServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server: RedisServer | None) -> str:
    url = redis_server.url if redis_server else os.environ["REDIS_URL"]
    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()
    return url


@pytest_asyncio.fixture
async def redis_client(redis_url: str) -> AsyncIterator[Redis]:
    client = connect_redis(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def restartable_redis(redis_server: RedisServer | None) -> RedisServer:
    if redis_server is None:
        pytest.skip("REDIS_URL names an external server, which these tests cannot restart")
    return redis_server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    if os.environ.get("DATABASE_URL"):
        yield None
        return
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def databases(postgres_server: PostgresServer | None) -> Databases:
    admin_url = postgres_server.url() if postgres_server else os.environ["DATABASE_URL"]
    return Databases(admin_url, psql_binary())


@pytest.fixture
def database_url(databases: Databases) -> Iterator[str]:
    url = databases.create()
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture(scope="session")
def docker_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Docker-compatible engine: `DOCKER_HOST` if set, else podman's API service on a socket
    of its own (`make containers` installs podman). Missing is a failure, not a skip."""
    if os.environ.get("DOCKER_HOST"):
        yield os.environ["DOCKER_HOST"]
        return
    socket_path = tmp_path_factory.mktemp("podman") / "podman.sock"
    url = f"unix://{socket_path}"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not socket_path.exists():
        if service.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("podman's API service did not start; run `make containers`")
        time.sleep(0.05)
    try:
        yield url
    finally:
        service.terminate()
        service.wait(10)
