"""Trimming, idempotency, event reading and log binding against a real Redis server."""

from __future__ import annotations

import asyncio
import json
from typing import cast

import pytest
import structlog
from redis.asyncio import Redis
from shared.contracts import EngineeringMessage, ProgressEvent, ProgressType, ScaffolderMessage
from shared.logging import configure_logging
from shared.streams import (
    ConsumerOptions,
    Idempotency,
    Outcome,
    RedisStreamPublisher,
    RequestInProgress,
    StreamConsumer,
    UnknownStream,
    WrongMessageType,
    read_events,
    trim_acknowledged,
)
from shared.testing.waiting import eventually

STREAM = "scaffolder:queue"
GROUP = "scaffolder"


def scaffold(n: int) -> ScaffolderMessage:
    return ScaffolderMessage(project_id=f"p-{n}", project_name=f"app-{n}", modules=["backend"])


class TestTrimAcknowledged:
    async def test_only_history_every_group_acknowledged_is_trimmed(
        self, redis_client: Redis
    ) -> None:
        publisher = RedisStreamPublisher(redis_client)
        ids = [await publisher.publish(STREAM, scaffold(i)) for i in range(10)]
        await redis_client.xgroup_create(STREAM, GROUP, id="0")
        await redis_client.xreadgroup(GROUP, "c", {STREAM: ">"}, count=6)
        await redis_client.xack(STREAM, GROUP, *ids[:3], ids[4])

        deleted = await trim_acknowledged(redis_client, STREAM)

        remaining = [
            eid for eid, _ in cast(list[tuple[str, object]], await redis_client.xrange(STREAM))
        ]
        assert deleted == 3
        assert remaining == ids[3:]  # ids[3] still pending, later ones pending or undelivered

    async def test_entries_never_delivered_are_kept(self, redis_client: Redis) -> None:
        publisher = RedisStreamPublisher(redis_client)
        ids = [await publisher.publish(STREAM, scaffold(i)) for i in range(4)]
        await redis_client.xgroup_create(STREAM, GROUP, id="0")
        await redis_client.xreadgroup(GROUP, "c", {STREAM: ">"}, count=2)
        await redis_client.xack(STREAM, GROUP, *ids[:2])

        assert await trim_acknowledged(redis_client, STREAM) == 2
        assert await redis_client.xlen(STREAM) == 2

    async def test_a_stream_nobody_reads_is_left_alone(self, redis_client: Redis) -> None:
        await RedisStreamPublisher(redis_client).publish(STREAM, scaffold(1))
        assert await trim_acknowledged(redis_client, STREAM) == 0
        assert await redis_client.xlen(STREAM) == 1


class TestIdempotency:
    async def test_a_second_delivery_while_the_first_runs_is_told_to_come_back_later(
        self, redis_client: Redis
    ) -> None:
        idempotency = Idempotency(redis_client)
        running = asyncio.Event()
        release = asyncio.Event()

        async def slow_effect() -> str:
            running.set()
            await release.wait()
            return "repo created"

        first = asyncio.create_task(idempotency.run_once("scaffold", "r-1", slow_effect))
        await asyncio.wait_for(running.wait(), 10)
        with pytest.raises(RequestInProgress):
            await idempotency.run_once("scaffold", "r-1", slow_effect)
        release.set()
        assert await first == (Outcome.RAN, "repo created")
        assert await idempotency.run_once("scaffold", "r-1", slow_effect) == (
            Outcome.ALREADY_DONE,
            None,
        )

    async def test_a_failed_effect_can_run_again_on_the_next_delivery(
        self, redis_client: Redis
    ) -> None:
        idempotency = Idempotency(redis_client)
        calls: list[int] = []

        async def flaky() -> int:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("forge down")
            return len(calls)

        with pytest.raises(RuntimeError):
            await idempotency.run_once("scaffold", "r-2", flaky)
        assert await idempotency.run_once("scaffold", "r-2", flaky) == (Outcome.RAN, 2)
        assert await idempotency.is_done("scaffold", "r-2")

    async def test_a_claim_whose_holder_died_expires_with_its_lease(
        self, redis_client: Redis
    ) -> None:
        idempotency = Idempotency(redis_client, lease_s=0.2)
        key = Idempotency.key("scaffold", "r-3")
        await redis_client.set(key, "running:dead", px=200)

        async def lease_expired() -> bool:
            return bool(await redis_client.exists(key) == 0)

        await eventually(lease_expired, within=10)

        async def effect() -> str:
            return "ok"

        assert await idempotency.run_once("scaffold", "r-3", effect) == (Outcome.RAN, "ok")


class TestPublisher:
    async def test_publishing_to_an_unregistered_stream_is_refused(
        self, redis_client: Redis
    ) -> None:
        with pytest.raises(UnknownStream):
            await RedisStreamPublisher(redis_client).publish("made:up", scaffold(1))
        assert await redis_client.exists("made:up") == 0

    async def test_publishing_a_dto_to_the_wrong_stream_is_refused(
        self, redis_client: Redis
    ) -> None:
        with pytest.raises(WrongMessageType):
            await RedisStreamPublisher(redis_client).publish("engineering:queue", scaffold(1))

    async def test_event_streams_are_capped_at_their_registered_length(
        self, redis_client: Redis
    ) -> None:
        publisher = RedisStreamPublisher(redis_client)
        for i in range(1500):
            await publisher.publish(
                "task_progress:t-1",
                ProgressEvent(type=ProgressType.PROGRESS, task_id="t-1", progress_pct=i % 100),
            )
        # Approximate trimming keeps at least the registered 1,000 and drops the oldest.
        assert 1000 <= await redis_client.xlen("task_progress:t-1") < 1500


async def test_watchers_read_every_event_after_a_position(redis_client: Redis) -> None:
    publisher = RedisStreamPublisher(redis_client)
    stream = "task_progress:t-9"
    first = await publisher.publish(stream, ProgressEvent(type=ProgressType.STARTED, task_id="t-9"))
    await redis_client.xadd(stream, {"data": "not json"})
    await publisher.publish(stream, ProgressEvent(type=ProgressType.COMPLETED, task_id="t-9"))

    events = await read_events(redis_client, stream, after=first)

    assert [event.type for _, event in events] == [ProgressType.COMPLETED]


async def test_every_log_line_written_while_handling_carries_the_message_ids(
    redis_client: Redis, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("test", json=True)
    handled = asyncio.Event()

    async def handle(message: EngineeringMessage) -> None:
        structlog.get_logger().info("working on it")
        handled.set()

    message = EngineeringMessage(task_id="t", project_id="p", user_id="u", correlation_id="corr-7")
    await RedisStreamPublisher(redis_client).publish("engineering:queue", message)
    consumer = StreamConsumer(
        redis_client,
        stream="engineering:queue",
        group="langgraph",
        consumer="c",
        handler=handle,
        options=ConsumerOptions(block_ms=50),
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(handled.wait(), 10)
    consumer.stop()
    await task

    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line]
    [line] = [line for line in lines if line["event"] == "working on it"]
    assert line["correlation_id"] == "corr-7"
    assert line["request_id"] == message.request_id
    assert line["stream"] == "engineering:queue"


class TestPublishOnce:
    async def test_a_request_is_published_once_however_often_it_is_sent(
        self, redis_client: Redis
    ) -> None:
        publisher = RedisStreamPublisher(redis_client)
        message = scaffold(1)

        first = await publisher.publish_once(STREAM, message)
        again = await publisher.publish_once(STREAM, message)

        entries = cast(list[tuple[str, dict[str, str]]], await redis_client.xrange(STREAM))
        assert first is not None
        assert again is None
        assert [entry_id for entry_id, _ in entries] == [first]
        assert json.loads(entries[0][1]["data"])["request_id"] == message.request_id

    async def test_the_same_request_may_go_to_another_stream_and_events_stay_capped(
        self, redis_client: Redis
    ) -> None:
        publisher = RedisStreamPublisher(redis_client)
        event = ProgressEvent(type=ProgressType.PROGRESS, task_id="t1", request_id="r1")

        assert await publisher.publish_once("task_progress:t1", event) is not None
        assert await publisher.publish_once("task_progress:t2", event) is not None
        for n in range(1200):
            await publisher.publish_once(
                "task_progress:t1", event.model_copy(update={"request_id": f"r-{n}"})
            )

        assert await redis_client.xlen("task_progress:t2") == 1
        assert await redis_client.xlen("task_progress:t1") < 1200

    async def test_the_registry_still_decides_what_goes_where(self, redis_client: Redis) -> None:
        publisher = RedisStreamPublisher(redis_client)
        with pytest.raises(WrongMessageType):
            await publisher.publish_once(
                STREAM, EngineeringMessage(task_id="t", project_id="p", user_id="u")
            )
        with pytest.raises(UnknownStream):
            await publisher.publish_once("nowhere", scaffold(1))
        assert await redis_client.keys("published:*") == []
