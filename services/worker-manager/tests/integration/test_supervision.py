"""worker-manager as a real process stops, non-zero, when one of its essential tasks dies, and
always stops on SIGTERM."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest_asyncio
from manager_testing import ManagerProcess, manager_env, wait_for_answer
from redis.asyncio import Redis
from shared.contracts import StatusWorkerCommand
from shared.streams import RedisStreamPublisher


@pytest_asyncio.fixture
async def watcherless_redis_url(redis_url: str, redis_client: Redis) -> AsyncIterator[str]:
    """A Redis user that may do everything but SMEMBERS, the watcher's first read of every pass:
    the watcher dies on its first turn, the consumers serve on."""
    user, password = f"no-smembers-{secrets.token_hex(4)}", secrets.token_hex(16)
    await redis_client.execute_command(  # type: ignore[no-untyped-call]
        "ACL", "SETUSER", user, "on", f">{password}", "~*", "&*", "+@all", "-smembers"
    )
    parts = urlsplit(redis_url)
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port}"
    try:
        yield urlunsplit(parts._replace(netloc=netloc))
    finally:
        await redis_client.execute_command("ACL", "DELUSER", user)  # type: ignore[no-untyped-call]


async def test_a_manager_whose_watcher_dies_exits_non_zero(
    watcherless_redis_url: str, tmp_path: Path
) -> None:
    env = manager_env(watcherless_redis_url, tmp_path / "workers", monitor_interval_s=0.2)
    manager = ManagerProcess(env, tmp_path / "manager.log")
    try:
        await manager.exited(60)
    finally:
        code = manager.stop()

    assert code == 1
    assert "an essential task ended" in manager.logs()


async def test_sigterm_stops_a_serving_manager_cleanly(
    redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    env = manager_env(redis_url, tmp_path / "workers", monitor_interval_s=0.2)
    manager = ManagerProcess(env, tmp_path / "manager.log")
    try:
        command = StatusWorkerCommand(worker_id="po-0123456789ab")
        await RedisStreamPublisher(redis_client).publish("worker:commands", command)
        await wait_for_answer(redis_client, "worker:responses:po", command.request_id)
    finally:
        code = manager.stop()

    assert code == 0
