"""The layer against entries anyone with Redis access could write: nothing crashes, wedges or
is lost, and every bad entry reaches the dead-letter stream with its reason."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from shared.contracts import EngineeringMessage, ProgressEvent, ProgressType
from shared.streams import (
    ConsumerOptions,
    Idempotency,
    PermanentFailure,
    RedisStreamPublisher,
    StreamConsumer,
    connect_redis,
    read_events,
)
from shared.testing.hostile import RawFields, dead_letters, hostile_entries, settled, xadd_raw
from shared.testing.waiting import eventually

STREAM = "engineering:queue"
GROUP = "langgraph"
OPTIONS = ConsumerOptions(block_ms=100, claim_idle_ms=60_000, claim_interval_s=0.2)


def valid(n: int) -> EngineeringMessage:
    return EngineeringMessage(task_id=f"task-{n}", project_id="p-1", user_id="u-1")


class Handled:
    def __init__(self) -> None:
        self.task_ids: Counter[str] = Counter()

    async def __call__(self, message: EngineeringMessage) -> None:
        self.task_ids[message.task_id] += 1


async def consume_until_settled(redis: Redis, handler: Handled) -> None:
    consumer = StreamConsumer(
        redis, stream=STREAM, group=GROUP, consumer="c1", handler=handler, options=OPTIONS
    )
    task = asyncio.create_task(consumer.run())
    try:
        await settled(redis, STREAM, GROUP)
        assert not task.done(), "the consumer is still running"
    finally:
        consumer.stop()
        await asyncio.wait_for(task, 30)


async def test_an_entry_that_is_not_utf8_is_dead_lettered_and_the_entries_around_it_handled(
    redis_client: Redis,
) -> None:
    before = await RedisStreamPublisher(redis_client).publish(STREAM, valid(1))
    bad = await xadd_raw(redis_client, STREAM, [b"data", b'{"task_id": "\xff\xfe"}'])
    bad_name = await xadd_raw(redis_client, STREAM, [b"\xc3\x28", b"{}"])
    after = await RedisStreamPublisher(redis_client).publish(STREAM, valid(2))
    handled = Handled()

    await consume_until_settled(redis_client, handled)

    assert handled.task_ids == {"task-1": 1, "task-2": 1}
    letters = await dead_letters(redis_client, STREAM)
    assert set(letters) == {bad, bad_name}
    assert {letter.reason for letter in letters.values()} == {"undecodable"}
    raw = [base64.b64decode(item) for item in letters[bad].raw_fields_base64 or []]
    assert raw == [b"data", b'{"task_id": "\xff\xfe"}'], "the entry is kept byte for byte"
    assert before < bad < after


async def test_an_entry_that_repeats_its_data_field_is_dead_lettered_with_both_values(
    redis_client: Redis,
) -> None:
    first, second = valid(1).model_dump_json().encode(), valid(2).model_dump_json().encode()
    entry = await xadd_raw(redis_client, STREAM, [b"data", first, b"data", second])
    handled = Handled()

    await consume_until_settled(redis_client, handled)

    assert handled.task_ids == {}
    letter = (await dead_letters(redis_client, STREAM))[entry]
    assert letter.reason == "invalid"
    assert "repeats" in letter.error
    raw = [base64.b64decode(item) for item in letter.raw_fields_base64 or []]
    assert raw == [b"data", first, b"data", second]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("version", 2),
        ("version", 0),
        ("version", 2**63),
        ("version", "1"),
        ("version", True),
        ("task_id", 5),
        ("task_id", True),
        ("task_id", None),
        ("project_id", ["p-1"]),
    ],
)
async def test_unknown_versions_and_values_of_the_wrong_type_are_invalid_not_coerced(
    redis_client: Redis, field: str, value: object
) -> None:
    body = {**json.loads(valid(1).model_dump_json()), field: value}
    entry = await xadd_raw(redis_client, STREAM, [b"data", json.dumps(body).encode()])
    handled = Handled()

    await consume_until_settled(redis_client, handled)

    assert handled.task_ids == {}
    letter = (await dead_letters(redis_client, STREAM))[entry]
    assert letter.reason == "invalid"
    assert field in letter.error


async def test_a_permanent_failure_is_dead_lettered_at_once_and_not_retried(
    redis_client: Redis,
) -> None:
    calls: list[str] = []

    async def refuse(message: EngineeringMessage) -> None:
        calls.append(message.task_id)
        raise PermanentFailure("the API answered 422: name too long")

    entry = await RedisStreamPublisher(redis_client).publish(STREAM, valid(1))
    consumer = StreamConsumer(
        redis_client, stream=STREAM, group=GROUP, consumer="c1", handler=refuse, options=OPTIONS
    )
    task = asyncio.create_task(consumer.run())
    await settled(redis_client, STREAM, GROUP)
    consumer.stop()
    await task

    letter = (await dead_letters(redis_client, STREAM))[entry]
    assert (letter.reason, letter.delivery_count) == ("permanent_failure", 1)
    assert "name too long" in letter.error
    assert calls == ["task-1"]


async def test_a_duplicate_of_a_request_in_progress_ends_as_soon_as_the_first_does(
    redis_client: Redis,
) -> None:
    """Two entries with one request id, read by two consumers at once: the second waits for
    the first's effect (not for a reclaim, minutes later) and then finds it done."""
    idempotency = Idempotency(redis_client)
    first_running, release = asyncio.Event(), asyncio.Event()
    effects: list[str] = []

    async def handle(message: EngineeringMessage) -> None:
        async def effect() -> None:
            effects.append(message.request_id)
            first_running.set()
            await release.wait()

        await idempotency.run_once("test", message.request_id, effect)

    slow_reclaim = ConsumerOptions(
        block_ms=100, batch_size=1, claim_idle_ms=3_600_000, in_progress_retry_s=0.05
    )
    message = valid(1)
    publisher = RedisStreamPublisher(redis_client)
    consumers = [
        StreamConsumer(
            redis_client,
            stream=STREAM,
            group=GROUP,
            consumer=f"c{i}",
            handler=handle,
            options=slow_reclaim,
        )
        for i in range(2)
    ]
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    try:
        await publisher.publish(STREAM, message)
        await asyncio.wait_for(first_running.wait(), 10)
        await publisher.publish(STREAM, message)
        failures = f"{STREAM}:{GROUP}:failures"
        await eventually(lambda: redis_client.hlen(failures), within=10)  # the duplicate waits
        release.set()
        await settled(redis_client, STREAM, GROUP, within=30)
    finally:
        for consumer in consumers:
            consumer.stop()
        await asyncio.wait(tasks, timeout=30)

    assert effects == [message.request_id]
    assert await dead_letters(redis_client, STREAM) == {}
    assert await redis_client.hlen(f"{STREAM}:{GROUP}:failures") == 0


async def test_an_event_reader_skips_an_entry_that_is_not_utf8(redis_client: Redis) -> None:
    stream = "task_progress:t-1"
    await xadd_raw(redis_client, stream, [b"data", b"\xff"])
    event = ProgressEvent(type=ProgressType.STARTED, task_id="t-1")
    await RedisStreamPublisher(redis_client).publish(stream, event)

    events = await read_events(redis_client, stream)

    assert [e for _, e in events] == [event]


async def test_a_consumer_whose_cancellation_is_swallowed_below_it_still_stops(
    redis_client: Redis,
) -> None:
    """Python 3.11's wait_for (inside redis-py) returns normally when the awaited call completes
    in the same step as the cancellation. The handler here swallows it the same way: the
    consumer must notice it was cancelled instead of reading on forever."""
    in_handler = asyncio.Event()

    async def swallow_cancellation(message: EngineeringMessage) -> None:
        in_handler.set()
        # As if the write had completed at the moment of cancellation:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.Event().wait()

    await RedisStreamPublisher(redis_client).publish(STREAM, valid(1))
    consumer = StreamConsumer(
        redis_client,
        stream=STREAM,
        group=GROUP,
        consumer="c1",
        handler=swallow_cancellation,
        options=OPTIONS,
    )
    task = asyncio.create_task(consumer.run())
    await asyncio.wait_for(in_handler.wait(), 10)

    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=30)

    assert task in done, "the consumer went on reading after it was cancelled"
    assert task.cancelled()


class _PipelineCompletingOnCancel(Pipeline):
    """A transaction whose write completes although the task was cancelled meanwhile, and which
    then returns normally: what Python 3.11's wait_for inside redis-py does."""

    async def execute(self, raise_on_error: bool = True) -> list[Any]:
        write = asyncio.ensure_future(super().execute(raise_on_error))
        try:
            return await asyncio.shield(write)
        except asyncio.CancelledError:
            WRITES_THAT_SWALLOWED_A_CANCELLATION.append(1)
            return await write


WRITES_THAT_SWALLOWED_A_CANCELLATION: list[int] = []


class _RedisCompletingWritesOnCancel(Redis):
    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Pipeline:
        return _PipelineCompletingOnCancel(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )


async def test_a_consumer_cancelled_while_its_ack_is_written_stops_all_the_same(
    redis_url: str,
) -> None:
    """The race seen in production: the service's TaskGroup cancels a consumer at the moment its
    XACK is on the wire; redis-py completes the write and returns as if nothing happened."""
    redis = _RedisCompletingWritesOnCancel.from_url(
        redis_url, decode_responses=True, socket_timeout=30
    )
    handled = asyncio.Event()

    async def handle(message: EngineeringMessage) -> None:
        handled.set()  # the test runs again only once the consumer waits on the ack's write

    await RedisStreamPublisher(redis).publish(STREAM, valid(1))
    consumer = StreamConsumer(
        redis, stream=STREAM, group=GROUP, consumer="c1", handler=handle, options=OPTIONS
    )
    task = asyncio.create_task(consumer.run())
    try:
        await asyncio.wait_for(handled.wait(), 10)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=30)

        assert WRITES_THAT_SWALLOWED_A_CANCELLATION == [1], "the cancellation met the ack"
        assert task in done, "the consumer went on reading after it was cancelled"
        assert task.cancelled()
        assert int((await redis.xpending(STREAM, GROUP))["pending"]) == 0
    finally:
        consumer.stop()
        await asyncio.wait({task}, timeout=30)
        await redis.aclose()


@pytest.mark.timeout(600)  # one test item runs every example
@settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
@given(data=st.data())
def test_any_hostile_entries_leave_every_entry_accounted_for_and_the_consumer_serving(
    redis_url: str, tmp_path: Path, data: st.DataObject
) -> None:
    marker = tmp_path / "hostile-marker"
    entries: list[RawFields] = data.draw(
        st.lists(hostile_entries(valid(0), marker), min_size=1, max_size=8)
    )

    async def scenario() -> None:
        redis = connect_redis(redis_url)
        try:
            await redis.flushall()
            publisher = RedisStreamPublisher(redis)
            valid_ids, hostile_ids = [], []
            for n, fields in enumerate(entries):
                valid_ids.append(await publisher.publish(STREAM, valid(n)))
                hostile_ids.append(await xadd_raw(redis, STREAM, fields))
            handled = Handled()
            consumer = StreamConsumer(
                redis, stream=STREAM, group=GROUP, consumer="c1", handler=handled, options=OPTIONS
            )
            task = asyncio.create_task(consumer.run())
            try:
                await settled(redis, STREAM, GROUP)
                # Still serving: a valid message written afterwards is handled.
                await publisher.publish(STREAM, valid(10_000))
                await eventually(lambda: _handled(handled, "task-10000"), within=30)
            finally:
                consumer.stop()
                await asyncio.wait_for(task, 30)
            letters = await dead_letters(redis, STREAM)
            for entry_id in hostile_ids:
                if entry_id not in letters:
                    continue  # a hostile entry that was still a valid message: it was handled
                assert letters[entry_id].reason in {"invalid", "undecodable"}
                assert letters[entry_id].error
            handled_or_dead = sum(handled.task_ids.values()) + len(letters)
            assert handled_or_dead == len(valid_ids) + len(hostile_ids) + 1
            assert all(handled.task_ids[f"task-{n}"] >= 1 for n in range(len(entries)))
            assert not set(letters) & set(valid_ids)
        finally:
            await redis.aclose()

    asyncio.run(scenario())
    assert not marker.exists()


async def _handled(handled: Handled, task_id: str) -> bool:
    return handled.task_ids[task_id] >= 1
