"""pytest plugin (registered as `codegen_servers`): real Redis and PostgreSQL for any cube's tests.

Servers start once per session, on first use, and stop at exit. The plugin reads only variables of
its own, never the services' settings or the Docker SDK's: a shell set up to run the system must not
let a test flush that Redis, drop databases on that Postgres or start containers on that engine.
`CODEGEN_TEST_REDIS_URL` / `CODEGEN_TEST_DATABASE_URL` / `CODEGEN_TEST_DOCKER_HOST` point the tests
at servers kept for testing instead; the tests that stop or restart a server then skip, through
`restartable_redis` and `stoppable_postgres` only. CI never sets them.

Fixtures:
- `redis_server`: the session's RedisServer, or None for an external one;
- `restartable_redis`: the session's RedisServer, for tests that stop it (skips on an external one);
- `redis_url`: a URL to an emptied Redis for this test;
- `redis_client`: an async client (str responses) on that Redis, closed after the test;
- `postgres_server`: the session's PostgresServer, or None for an external one;
- `stoppable_postgres`: the session's PostgresServer, for tests that stop it (skips likewise);
- `databases`: creates and drops databases on that server (`create(template=…)` copies one);
- `database_url`: a URL (`postgresql://…`) to a fresh database of its own for this test;
- `docker_host`: a Docker-compatible engine's URL (podman's own API service unless
  `CODEGEN_TEST_DOCKER_HOST` is set).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
import redis
from redis.asyncio import Redis

from shared.streams.redis import connect_redis
from shared.testing.servers import Databases, PostgresServer, RedisServer, psql_binary

TEST_REDIS_URL = "CODEGEN_TEST_REDIS_URL"
TEST_DATABASE_URL = "CODEGEN_TEST_DATABASE_URL"
TEST_DOCKER_HOST = "CODEGEN_TEST_DOCKER_HOST"
EXTERNAL_SERVER_SKIP = "{variable} names an external server, which this test cannot stop or restart"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer | None]:
    if os.environ.get(TEST_REDIS_URL):
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
    url = redis_server.url if redis_server else os.environ[TEST_REDIS_URL]
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
        pytest.skip(EXTERNAL_SERVER_SKIP.format(variable=TEST_REDIS_URL))
    return redis_server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | None]:
    if os.environ.get(TEST_DATABASE_URL):
        yield None
        return
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def stoppable_postgres(postgres_server: PostgresServer | None) -> PostgresServer:
    if postgres_server is None:
        pytest.skip(EXTERNAL_SERVER_SKIP.format(variable=TEST_DATABASE_URL))
    return postgres_server


@pytest.fixture(scope="session")
def databases(postgres_server: PostgresServer | None) -> Databases:
    admin_url = postgres_server.url() if postgres_server else os.environ[TEST_DATABASE_URL]
    return Databases(admin_url, psql_binary())


@pytest.fixture
def database_url(databases: Databases) -> Iterator[str]:
    url = databases.create()
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture(scope="session")
def docker_host() -> Iterator[str]:
    """A Docker-compatible engine: `CODEGEN_TEST_DOCKER_HOST` if set, else podman's API service on
    a socket of its own (`make containers` installs podman). Missing is a failure, not a skip."""
    if os.environ.get(TEST_DOCKER_HOST):
        yield os.environ[TEST_DOCKER_HOST]
        return
    # A short directory: a Unix socket's path may not exceed 107 bytes, pytest's may.
    directory = Path(tempfile.mkdtemp(prefix="cg-podman-"))
    socket_path = directory / "podman.sock"
    url = f"unix://{socket_path}"
    log = directory / "podman.log"
    with log.open("wb") as output:
        service = subprocess.Popen(
            ["podman", "system", "service", "--time=0", url],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            if service.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    "podman's API service did not start (run `make containers`): "
                    + log.read_text(errors="replace")[-2000:]
                )
            time.sleep(0.05)
        yield url
    finally:
        service.terminate()
        try:
            service.wait(10)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()
        shutil.rmtree(directory, ignore_errors=True)


SLOW_S = 60.0
_slow_unmarked: list[tuple[str, float]] = []


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    yield
    if call.when == "call" and call.duration > SLOW_S and item.get_closest_marker("slow") is None:
        _slow_unmarked.append((item.nodeid, call.duration))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name every test over a minute that does not say why (`@pytest.mark.slow("reason")`)."""
    if _slow_unmarked:
        terminalreporter.section("slow tests without a reason")
        for nodeid, duration in _slow_unmarked:
            terminalreporter.write_line(
                f"{duration:.0f}s {nodeid}: mark it slow(reason) or speed it up"
            )
