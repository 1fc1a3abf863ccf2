"""Workers' own input streams, read and answered for by worker-manager, on real Redis: a
developer worker's stream is its own, so what waits there is its work alone, and what it leaves
is answered for it and then removed."""

from __future__ import annotations

from typing import Any

import pytest
from manager_testing import entries
from redis.asyncio import Redis
from shared.contracts import DeveloperWorkerInput, DeveloperWorkerOutput, POWorkerInput, WorkerType
from shared.streams import RedisStreamPublisher, raw
from shared.streams.registry import DEVELOPER_INPUT, DEVELOPER_OUTPUT, PO_INPUT, Group
from worker_manager.adapters.redis_inputs import RedisWorkerInputs
from worker_manager.adapters.redis_unfinished_work import RedisUnfinishedWork

A, B = "developer-aaaaaaaaaaaa", "developer-bbbbbbbbbbbb"


def run(task_id: str) -> DeveloperWorkerInput:
    return DeveloperWorkerInput(
        task_id=task_id, project_id="p-1", prompt="do it", repo_url="https://example.com/o/r.git"
    )


async def outputs(redis: Redis) -> list[DeveloperWorkerOutput]:
    return [
        DeveloperWorkerOutput.model_validate(data)
        for data in await entries(redis, DEVELOPER_OUTPUT.pattern)
    ]


async def take_one(redis: Redis, worker_id: str) -> None:
    """What the wrapper does before it dies mid-run: its group from the start, one entry read."""
    stream = DEVELOPER_INPUT.name(worker_id=worker_id)
    await redis.xgroup_create(stream, Group.DEVELOPER_WORKERS, id="0", mkstream=True)
    [_] = await raw.xreadgroup(
        raw.raw_reader(redis),
        group=Group.DEVELOPER_WORKERS,
        consumer=worker_id,
        stream=stream,
        count=1,
        block_ms=100,
    )


async def test_a_run_sent_to_one_developer_worker_is_never_anothers_work_nor_answered_for_it(
    redis_client: Redis,
) -> None:
    inputs, unfinished = RedisWorkerInputs(redis_client), RedisUnfinishedWork(redis_client)
    theirs = run("t-b")
    await RedisStreamPublisher(redis_client).publish(DEVELOPER_INPUT.name(worker_id=B), theirs)

    assert await inputs.has_work(A, WorkerType.DEVELOPER) is False
    assert await unfinished.report(A, WorkerType.DEVELOPER, "the worker exited with 1", 1) == []
    assert await outputs(redis_client) == []
    assert await redis_client.xlen(DEVELOPER_INPUT.name(worker_id=B)) == 1
    assert await redis_client.xinfo_groups(DEVELOPER_INPUT.name(worker_id=B)) == []  # untouched

    assert await inputs.has_work(B, WorkerType.DEVELOPER) is True
    answered = await unfinished.report(B, WorkerType.DEVELOPER, "the worker exited with 1", 1)
    assert answered == [theirs.request_id]
    [output] = await outputs(redis_client)
    assert (output.worker_id, output.task_id, output.status) == (B, "t-b", "error")


async def test_a_dead_developer_workers_held_run_and_the_one_it_never_took_are_answered_once(
    redis_client: Redis,
) -> None:
    publisher, unfinished = RedisStreamPublisher(redis_client), RedisUnfinishedWork(redis_client)
    held, never_taken = run("t-1"), run("t-2")
    await publisher.publish(DEVELOPER_INPUT.name(worker_id=A), held)
    await take_one(redis_client, A)
    await publisher.publish(DEVELOPER_INPUT.name(worker_id=A), never_taken)

    reason = "killed: out of memory or SIGKILL (137)"
    answered = await unfinished.report(A, WorkerType.DEVELOPER, reason, 137)
    again = await unfinished.report(A, WorkerType.DEVELOPER, reason, 137)

    assert answered == [held.request_id, never_taken.request_id]
    assert again == []
    assert [(o.request_id, o.error, o.exit_code) for o in await outputs(redis_client)] == [
        (held.request_id, reason, 137),
        (never_taken.request_id, reason, 137),
    ]


async def test_a_run_published_before_the_worker_ever_read_is_answered_when_it_dies(
    redis_client: Redis,
) -> None:
    waiting = run("t-1")
    await RedisStreamPublisher(redis_client).publish(DEVELOPER_INPUT.name(worker_id=A), waiting)

    answered = await RedisUnfinishedWork(redis_client).report(
        A, WorkerType.DEVELOPER, "the worker exited with 2", 2
    )

    assert answered == [waiting.request_id]


async def test_an_ended_developer_workers_input_is_removed_and_a_po_workers_kept(
    redis_client: Redis,
) -> None:
    publisher, inputs = RedisStreamPublisher(redis_client), RedisWorkerInputs(redis_client)
    await publisher.publish(DEVELOPER_INPUT.name(worker_id=A), run("t-1"))
    await publisher.publish(DEVELOPER_INPUT.name(worker_id=B), run("t-2"))
    po = "po-cccccccccccc"
    await publisher.publish(PO_INPUT.name(worker_id=po), POWorkerInput(user_id="u-1", prompt="hi"))

    await inputs.remove(A, WorkerType.DEVELOPER)
    await inputs.remove(po, WorkerType.PO)

    assert await redis_client.exists(DEVELOPER_INPUT.name(worker_id=A)) == 0
    assert await redis_client.xlen(DEVELOPER_INPUT.name(worker_id=B)) == 1
    assert await redis_client.xlen(PO_INPUT.name(worker_id=po)) == 1


async def test_a_dead_workers_input_deleted_meanwhile_leaves_nothing_to_answer(
    redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its remains were deleted by another handler between the group's creation and the read."""
    await RedisStreamPublisher(redis_client).publish(DEVELOPER_INPUT.name(worker_id=A), run("t-1"))
    read = raw.xreadgroup

    async def deleted_first(*args: Any, **kwargs: Any) -> Any:
        await redis_client.delete(DEVELOPER_INPUT.name(worker_id=A))
        return await read(*args, **kwargs)

    monkeypatch.setattr(raw, "xreadgroup", deleted_first)

    answered = await RedisUnfinishedWork(redis_client).report(
        A, WorkerType.DEVELOPER, "the worker exited with 2", 2
    )

    assert answered == []
    assert await outputs(redis_client) == []
