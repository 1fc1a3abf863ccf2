"""worker-manager as a real process against entries anyone with Redis access could write to
worker:commands and worker:lifecycle: every entry is answered or dead-lettered with a reason,
nothing stays pending, the manager keeps serving, no command runs, and no worker starts that a
create which passed validation did not ask for. One manager serves the whole test."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import redis as sync_redis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from manager_testing import ManagerProcess, kill_workers, manager_env, worker_processes
from redis.asyncio import Redis
from shared.contracts import (
    AgentType,
    CreateWorkerCommand,
    LifecycleEventKind,
    StatusWorkerCommand,
    WorkerConfig,
    WorkerLifecycleEvent,
    WorkerState,
    WorkerType,
)
from shared.streams import RedisStreamPublisher, connect_redis
from shared.streams.wire import InvalidEntry, text_fields
from shared.testing.hostile import RawFields, dead_letters, hostile_entries, settled, xadd_raw
from shared.testing.waiting import eventually
from worker_manager.adapters.redis_status_store import RedisStatusStore

COMMANDS = "worker:commands"
LIFECYCLE = "worker:lifecycle"
GROUP = "worker-manager"
RESPONSES = ("worker:responses:po", "worker:responses:developer")
REASONS = {"invalid", "undecodable", "permanent_failure"}
UNKNOWN = "po-000000000000"


class Manager:
    def __init__(self, process: ManagerProcess, live_worker: str, marker: Path) -> None:
        self.process, self.live_worker, self.marker = process, live_worker, marker


def create(n: int) -> CreateWorkerCommand:
    return CreateWorkerCommand(
        request_id=f"create-{n}",
        config=WorkerConfig(name="w", worker_type=WorkerType.PO, agent_type=AgentType.SCRIPTED),
    )


def _worker_ids(redis_url: str) -> list[str]:
    client = sync_redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        return [key.removeprefix("worker:status:") for key in client.scan_iter("worker:status:*")]
    finally:
        client.close()


@pytest.fixture
def manager(redis_url: str, tmp_path: Path) -> Iterator[Manager]:
    env = manager_env(
        redis_url,
        tmp_path / "workers",
        # Nothing listens there: a create naming a user gets no key and is answered with an error.
        api_url="http://127.0.0.1:9",
        max_workers=3,
        monitor_interval_s=0.2,
        stop_grace_s=3,
    )
    process = ManagerProcess(env, tmp_path / "manager.log")
    try:
        live = asyncio.run(_start_live_worker(redis_url))
        yield Manager(process, live, tmp_path / "hostile-marker")
    finally:
        process.stop()
        kill_workers(_worker_ids(redis_url))


async def _start_live_worker(redis_url: str) -> str:
    redis = connect_redis(redis_url)
    try:
        command = create(0)
        await RedisStreamPublisher(redis).publish(COMMANDS, command)
        answer = await eventually(lambda: _answer(redis, command.request_id), 60)
        assert answer is not None
        assert answer["success"] is True, answer
        worker_id = str(answer["worker_id"])
        await eventually(lambda: _heartbeat(redis, worker_id), 60)
        return worker_id
    finally:
        await redis.aclose()


async def _heartbeat(redis: Redis, worker_id: str) -> bool:
    return bool(await redis.exists(f"worker:heartbeat:{worker_id}"))


async def _answers(
    redis: Redis, after: dict[str, str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Responses by request id (only those after the given entry ids, per stream)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for stream in RESPONSES:
        start = f"({after[stream]}" if after and after.get(stream) else "-"
        entries = await redis.xrange(stream, start)
        for _, fields in cast(list[tuple[str, dict[str, str]]], entries):
            data = json.loads(fields["data"])
            found.setdefault(data["request_id"], []).append(data)
    return found


async def _answer(redis: Redis, request_id: str) -> dict[str, Any] | None:
    answers = (await _answers(redis)).get(request_id)
    return answers[0] if answers else None


def _request_id(fields: RawFields) -> str | None:
    """The request id of a hostile entry the manager accepted (so it carried a valid command);
    None when it had none (the model gave it one, unknown here)."""
    request_id = json.loads(text_fields(fields)["data"]).get("request_id")
    return None if request_id is None else str(request_id)


async def _last_ids(redis: Redis) -> dict[str, str]:
    found = {}
    for stream in RESPONSES:
        newest = await redis.xrevrange(stream, count=1)
        found[stream] = str(newest[0][0]) if newest else ""
    return found


@pytest.mark.timeout(600)  # one test item runs every example against one manager
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
    # One manager serves every example: shrinking would replay against a changed manager, and
    # the explain phase's tracing slows a real process test past its time.
    phases=[Phase.explicit, Phase.generate],
)
@given(data=st.data())
def test_any_hostile_commands_and_events_are_answered_or_dead_lettered_and_the_manager_serves(
    manager: Manager, redis_url: str, data: st.DataObject
) -> None:
    n = data.draw(st.integers(min_value=1, max_value=2**62), label="request number")
    commands: list[RawFields] = data.draw(
        st.lists(
            st.one_of(
                hostile_entries(create(n), manager.marker),
                hostile_entries(StatusWorkerCommand(worker_id=UNKNOWN), manager.marker),
            ),
            min_size=1,
            max_size=8,
        ),
        label="commands",
    )
    events: list[RawFields] = data.draw(
        st.lists(
            hostile_entries(
                WorkerLifecycleEvent(
                    worker_id=manager.live_worker, event=LifecycleEventKind.STOPPED, exit_code=0
                ),
                manager.marker,
            ),
            min_size=1,
            max_size=4,
        ),
        label="lifecycle events",
    )
    asyncio.run(_scenario(manager, redis_url, commands, events))
    assert not manager.marker.exists()


async def _scenario(
    manager: Manager, redis_url: str, commands: list[RawFields], events: list[RawFields]
) -> None:
    redis = connect_redis(redis_url)
    try:
        publisher = RedisStreamPublisher(redis)
        before = await _last_ids(redis)
        hostile: dict[str, RawFields] = {}
        statuses = []
        for fields in commands:
            status = StatusWorkerCommand(worker_id=UNKNOWN)
            await publisher.publish(COMMANDS, status)
            statuses.append(status.request_id)
            hostile[await xadd_raw(redis, COMMANDS, fields)] = fields
        hostile_events = [await xadd_raw(redis, LIFECYCLE, fields) for fields in events]

        await settled(redis, COMMANDS, GROUP)
        await settled(redis, LIFECYCLE, GROUP)

        assert manager.process.process.poll() is None, "the manager is still running"
        answers = await _answers(redis, after=before)
        assert all(request_id in answers for request_id in statuses), "valid ones answered"
        letters = await dead_letters(redis, COMMANDS)
        asked, without_id = set(statuses), 0
        for entry_id, fields in hostile.items():
            if entry_id in letters:
                assert letters[entry_id].reason in REASONS, letters[entry_id]
                assert letters[entry_id].error
                continue
            try:
                request_id = _request_id(fields)
            except (InvalidEntry, KeyError, ValueError) as exc:
                raise AssertionError(f"{entry_id} neither answered nor dead-lettered") from exc
            if request_id is None:
                without_id += 1
            else:
                asked.add(request_id)
                assert request_id in answers, f"{entry_id} accepted but not answered"
        unasked = [
            answer
            for request_id, found in answers.items()
            if request_id not in asked
            for answer in found
        ]
        assert len(unasked) >= without_id, "an accepted command without a request id answered"
        event_letters = await dead_letters(redis, LIFECYCLE)
        for entry_id in hostile_events:
            if entry_id in event_letters:
                assert event_letters[entry_id].reason in REASONS, event_letters[entry_id]

        # No worker but those whose create was answered with it; the live one lives on.
        created = {
            str(answer["worker_id"])
            for found in (await _answers(redis)).values()
            for answer in found
            if answer["command"] == "create" and answer["success"]
        }
        workers = [
            key.removeprefix("worker:status:") async for key in redis.scan_iter("worker:status:*")
        ]
        assert set(workers) <= created
        live = await RedisStatusStore(redis).status(manager.live_worker)
        assert live is not None
        assert live.state in {WorkerState.RUNNING, WorkerState.PAUSED}, live
        assert worker_processes(manager.live_worker)
    finally:
        await redis.aclose()
