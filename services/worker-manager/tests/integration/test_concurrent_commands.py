"""Two worker-manager replicas (real processes) whose starts of `held` workers wait for a file, as
a first image build waits for the engine: other commands are served meanwhile, and a held create
that the other consumers are handed again is never started twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import pytest
import pytest_asyncio
from manager_testing import (
    ManagerProcess,
    kill_workers,
    manager_env,
    wait_for_answer,
    worker_ids,
)
from redis.asyncio import Redis
from shared.contracts import (
    AgentType,
    CreateWorkerCommand,
    DeleteWorkerCommand,
    StatusWorkerCommand,
    WorkerConfig,
    WorkerResponse,
    WorkerState,
    WorkerType,
)
from shared.streams import Idempotency, RedisStreamPublisher
from shared.testing.waiting import eventually

RESPONSES = "worker:responses:po"
FAILURES = "worker:commands:worker-manager:failures"


@pytest.fixture
def hold(tmp_path: Path) -> Path:
    directory = tmp_path / "hold"
    directory.mkdir()
    return directory


@pytest_asyncio.fixture
async def replicas(
    redis_url: str, redis_client: Redis, tmp_path: Path, hold: Path
) -> AsyncIterator[list[ManagerProcess]]:
    started = []
    try:
        for name in ("a", "b"):
            env = manager_env(
                redis_url,
                tmp_path / "workers",
                consumer_name=f"replica-{name}",
                max_workers=10,
                command_concurrency=2,
                # A held create is handed to another consumer after 3 s pending, by when its
                # lease (0.5 s, renewed) would have run out six times over.
                command_claim_idle_s=3,
                create_lease_s=0.5,
                task_timeout_s=60,
                idle_timeout_s=3600,
                monitor_interval_s=0.2,
                stop_grace_s=3,
            )
            started.append(ManagerProcess(env, tmp_path / f"manager-{name}.log", hold_dir=hold))
        yield started
    finally:
        (hold / "release").touch()
        for replica in started:
            await asyncio.to_thread(replica.stop)
        # After the replicas: a held create still in flight starts its worker as they stop.
        kill_workers(await worker_ids(redis_client))


def po(name: str) -> CreateWorkerCommand:
    return CreateWorkerCommand(
        config=WorkerConfig(name=name, worker_type=WorkerType.PO, agent_type=AgentType.SCRIPTED)
    )


async def test_held_creates_block_no_other_command_and_each_starts_one_worker(
    replicas: list[ManagerProcess], redis_client: Redis, hold: Path
) -> None:
    publisher = RedisStreamPublisher(redis_client)

    async def answer(request_id: str) -> WorkerResponse:
        return await wait_for_answer(redis_client, RESPONSES, request_id)

    # Two held creates: one consumer each would leave both replicas stuck, were commands
    # handled one at a time per replica.
    held = [po("held"), po("held")]
    entry_ids = [await publisher.publish("worker:commands", command) for command in held]

    async def both_entered() -> bool:
        return len(await asyncio.to_thread(entered, hold)) == 2

    await eventually(both_entered)
    keys = [Idempotency.key("worker-create", command.request_id) for command in held]
    tokens = [await redis_client.get(key) for key in keys]
    assert all(str(token).startswith("running:") for token in tokens), tokens

    fast = po("fast")
    await publisher.publish("worker:commands", fast)
    created = await answer(fast.request_id)
    assert created.success, created.error
    assert created.worker_id is not None
    status = StatusWorkerCommand(worker_id=created.worker_id)
    await publisher.publish("worker:commands", status)
    assert (await answer(status.request_id)).success
    delete = DeleteWorkerCommand(worker_id=created.worker_id)
    await publisher.publish("worker:commands", delete)
    deleted = await answer(delete.request_id)
    assert deleted.status is not None
    assert deleted.status.state == WorkerState.STOPPED
    assert not (hold / "release").exists()

    # Each held create is handed to another consumer, which is refused: still the first claim.
    async def refused_elsewhere() -> bool:
        for entry_id in entry_ids:
            pending = await redis_client.xpending_range(
                "worker:commands", "worker-manager", min=entry_id, max=entry_id, count=1
            )
            failure = await redis_client.hget(FAILURES, entry_id)
            if not pending or int(pending[0]["times_delivered"]) < 2:
                return False
            if "RequestInProgress" not in str(failure):
                return False
        return True

    await eventually(refused_elsewhere)
    assert [await redis_client.get(key) for key in keys] == tokens
    (hold / "release").touch()

    answers = [await answer(command.request_id) for command in held]
    assert all(a.success for a in answers), answers
    assert len({a.worker_id for a in answers}) == 2
    for command, first in zip(held, answers, strict=True):
        every = await _answers(redis_client, command.request_id)
        assert {a.worker_id for a in every} == {first.worker_id}
    assert len(await asyncio.to_thread(entered, hold)) == 2
    assert await redis_client.xlen("worker:commands:dlq") == 0


def entered(hold: Path) -> list[Path]:
    """The held starts that began."""
    return sorted(hold.glob("entered-*"))


async def _answers(redis: Redis, request_id: str) -> list[WorkerResponse]:
    raw = cast(list[tuple[str, dict[str, Any]]], await redis.xrange(RESPONSES))
    found = [WorkerResponse.model_validate_json(fields["data"]) for _, fields in raw]
    return [a for a in found if a.request_id == request_id]
