"""The Redis Streams layer against a real Redis server."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

import pytest
from redis.asyncio import Redis
from shared.contracts import DeadLetter, EngineeringMessage
from shared.streams import (
    ConsumerOptions,
    Idempotency,
    Outcome,
    RedisStreamPublisher,
    StreamConsumer,
    dlq_stream,
)
from shared.testing.servers import RedisServer
from shared.testing.waiting import eventually

Entry = tuple[str, dict[str, str]]
T = TypeVar("T")
STREAM = "engineering:queue"
GROUP = "langgraph"
HOUR_MS = 3_600_000
FAST = ConsumerOptions(block_ms=100, claim_idle_ms=200, claim_interval_s=0.1, max_deliveries=3)


def engineering(n: int = 0) -> EngineeringMessage:
    return EngineeringMessage(task_id=f"task-{n}", project_id="p-1", user_id="u-1")


def consumer(
    redis: Redis,
    handler: Callable[[EngineeringMessage], Awaitable[None]],
    name: str = "c1",
    options: ConsumerOptions = FAST,
) -> StreamConsumer:
    return StreamConsumer(
        redis, stream=STREAM, group=GROUP, consumer=name, handler=handler, options=options
    )


async def read_all(redis: Redis, stream: str = STREAM, count: int | None = None) -> list[Entry]:
    return cast(list[Entry], await redis.xrange(stream, count=count))


async def pending_count(redis: Redis) -> int:
    summary = await redis.xpending(STREAM, GROUP)
    return int(summary["pending"])


async def dead_letters(redis: Redis) -> list[DeadLetter]:
    entries = await read_all(redis, dlq_stream(STREAM))
    return [DeadLetter.model_validate_json(fields["data"]) for _, fields in entries]


class Recorder:
    def __init__(self) -> None:
        self.seen: list[EngineeringMessage] = []

    async def __call__(self, message: EngineeringMessage) -> None:
        self.seen.append(message)

    async def count(self, n: int) -> bool:
        return len(self.seen) >= n


async def test_published_entry_has_one_data_field_holding_the_dto_as_json(
    redis_client: Redis,
) -> None:
    message = engineering()
    entry_id = await RedisStreamPublisher(redis_client).publish(STREAM, message)

    [(read_id, fields)] = await read_all(redis_client)

    assert read_id == entry_id
    assert list(fields) == ["data"]
    assert EngineeringMessage.model_validate(json.loads(fields["data"])) == message


async def test_a_message_published_to_a_group_of_three_consumers_is_handled_once(
    redis_client: Redis,
) -> None:
    handled: Counter[str] = Counter()

    async def handle(message: EngineeringMessage) -> None:
        handled[message.request_id] += 1

    consumers = [consumer(redis_client, handle, name=f"c{i}") for i in range(3)]
    tasks = [asyncio.create_task(c.run()) for c in consumers]
    messages = [engineering(i) for i in range(30)]
    publisher = RedisStreamPublisher(redis_client)
    for message in messages:
        await publisher.publish(STREAM, message)

    async def all_handled() -> bool:
        return len(handled) == len(messages) and await pending_count(redis_client) == 0

    await eventually(all_handled)
    # Stopping waits for every handler in flight, so a duplicate being handled is counted.
    for c in consumers:
        c.stop()
    await asyncio.gather(*tasks)
    assert set(handled) == {m.request_id for m in messages}
    assert set(handled.values()) == {1}


async def test_an_entry_read_by_a_consumer_that_died_is_handled_by_another_after_the_idle_threshold(
    redis_client: Redis,
) -> None:
    message = engineering()
    await RedisStreamPublisher(redis_client).publish(STREAM, message)
    await redis_client.xgroup_create(STREAM, GROUP, id="0")
    # The dead consumer read the entry and never acknowledged it.
    await redis_client.xreadgroup(GROUP, "dead", {STREAM: ">"}, count=1)

    recorder = Recorder()
    survivor = consumer(redis_client, recorder, name="survivor")
    task = asyncio.create_task(survivor.run())
    await eventually(lambda: recorder.count(1))
    survivor.stop()
    await task

    assert recorder.seen == [message]
    assert await pending_count(redis_client) == 0


async def test_a_consumer_restarted_under_its_name_takes_up_what_its_last_run_left_at_once(
    redis_client: Redis,
) -> None:
    publisher = RedisStreamPublisher(redis_client)
    for i in range(25):
        await publisher.publish(STREAM, engineering(i))
    await redis_client.xgroup_create(STREAM, GROUP, id="0")
    # The last run of "c1" read 23 entries and died handling them; another replica holds two.
    await redis_client.xreadgroup(GROUP, "c1", {STREAM: ">"}, count=23)
    await redis_client.xreadgroup(GROUP, "other", {STREAM: ">"}, count=2)

    recorder = Recorder()
    options = ConsumerOptions(block_ms=100, claim_idle_ms=HOUR_MS, claim_interval_s=600)
    restarted = consumer(redis_client, recorder, name="c1", options=options)
    task = asyncio.create_task(restarted.run())
    await eventually(lambda: recorder.count(23))
    restarted.stop()
    await task

    assert [m.task_id for m in recorder.seen] == [f"task-{i}" for i in range(23)]
    assert await pending_count(redis_client) == 2  # the live replica's are its own


async def test_a_thousand_entries_left_pending_by_a_dead_consumer_are_all_reclaimed(
    redis_client: Redis,
) -> None:
    publisher = RedisStreamPublisher(redis_client)
    for i in range(1500):
        await publisher.publish(STREAM, engineering(i))
    await redis_client.xgroup_create(STREAM, GROUP, id="0")
    await redis_client.xreadgroup(GROUP, "dead", {STREAM: ">"}, count=1500)
    everything: list[Any] = [eid for eid, _ in await read_all(redis_client)]
    # The dead consumer's entries have been idle for two hours; the first 500 belong to a live
    # consumer and were just delivered. XAUTOCLAIM scans at most COUNT x 10 entries per call, so
    # its first pages come back empty: only a reclaim that follows the cursor reaches the 1,000
    # dead entries behind them.
    await redis_client.xclaim(STREAM, GROUP, "dead", 0, everything, idle=2 * HOUR_MS, justid=True)
    await redis_client.xclaim(STREAM, GROUP, "alive", 0, everything[:500], justid=True)

    recorder = Recorder()
    options = ConsumerOptions(
        block_ms=100, claim_idle_ms=HOUR_MS, claim_interval_s=600, batch_size=10
    )
    survivor = consumer(redis_client, recorder, name="survivor", options=options)
    task = asyncio.create_task(survivor.run())
    await eventually(lambda: recorder.count(1000))
    survivor.stop()
    await task

    handled = sorted(int(m.task_id.split("-")[1]) for m in recorder.seen)
    assert handled == list(range(500, 1500))
    assert await pending_count(redis_client) == 500


async def test_a_malformed_entry_goes_to_the_dead_letter_stream_and_good_ones_around_it_are_handled(
    redis_client: Redis,
) -> None:
    publisher = RedisStreamPublisher(redis_client)
    await publisher.publish(STREAM, engineering(1))
    bad_id = await redis_client.xadd(STREAM, {"data": json.dumps({"task_id": "t"})})
    await publisher.publish(STREAM, engineering(2))

    recorder = Recorder()
    worker = consumer(redis_client, recorder)
    task = asyncio.create_task(worker.run())
    await eventually(lambda: recorder.count(2))
    worker.stop()
    await task

    [letter] = await dead_letters(redis_client)
    assert letter.entry_id == bad_id
    assert letter.source_stream == STREAM
    assert letter.reason == "invalid"
    assert "project_id" in letter.error
    assert "user_id" in letter.error
    assert letter.fields == {"data": json.dumps({"task_id": "t"})}
    assert [m.task_id for m in recorder.seen] == ["task-1", "task-2"]
    assert await pending_count(redis_client) == 0


async def test_an_entry_without_a_data_field_is_dead_lettered(redis_client: Redis) -> None:
    await redis_client.xadd(STREAM, {"payload": "{}"})
    worker = consumer(redis_client, Recorder())
    task = asyncio.create_task(worker.run())

    async def one_letter() -> bool:
        return len(await dead_letters(redis_client)) == 1

    await eventually(one_letter)
    worker.stop()
    await task
    [letter] = await dead_letters(redis_client)
    assert "exactly one field 'data'" in letter.error


async def test_an_entry_whose_handler_always_raises_is_dead_lettered_after_max_deliveries(
    redis_client: Redis,
) -> None:
    poison = engineering(666)
    attempts: Counter[str] = Counter()
    recorder = Recorder()

    async def handle(message: EngineeringMessage) -> None:
        if message.request_id == poison.request_id:
            attempts[message.request_id] += 1
            raise RuntimeError("the database said no")
        await recorder(message)

    publisher = RedisStreamPublisher(redis_client)
    await publisher.publish(STREAM, engineering(1))
    await publisher.publish(STREAM, poison)
    await publisher.publish(STREAM, engineering(2))
    worker = consumer(redis_client, handle)
    task = asyncio.create_task(worker.run())

    async def one_letter() -> bool:
        return len(await dead_letters(redis_client)) == 1

    await eventually(one_letter)
    await publisher.publish(STREAM, engineering(3))
    await eventually(lambda: recorder.count(3))
    worker.stop()
    await task

    [letter] = await dead_letters(redis_client)
    assert letter.reason == "max_deliveries"
    assert letter.delivery_count == FAST.max_deliveries + 1
    assert letter.error == "RuntimeError: the database said no"
    assert attempts[poison.request_id] == FAST.max_deliveries
    assert [m.task_id for m in recorder.seen] == ["task-1", "task-2", "task-3"]
    assert await pending_count(redis_client) == 0
    assert not await redis_client.exists(f"{STREAM}:{GROUP}:failures")


async def test_a_failed_entry_is_taken_again_after_a_backoff_not_the_idle_threshold(
    redis_client: Redis,
) -> None:
    recorder = Recorder()
    failures: Counter[str] = Counter()

    async def flaky(message: EngineeringMessage) -> None:
        if not failures[message.request_id]:
            failures[message.request_id] += 1
            raise ConnectionError("the API is restarting")
        await recorder(message)

    options = ConsumerOptions(
        block_ms=100, claim_idle_ms=HOUR_MS, claim_interval_s=0.1, retry_initial_ms=200
    )
    await RedisStreamPublisher(redis_client).publish(STREAM, engineering(1))
    worker = consumer(redis_client, flaky, options=options)
    task = asyncio.create_task(worker.run())
    await eventually(lambda: recorder.count(1), within=10)
    worker.stop()
    await task

    assert [m.task_id for m in recorder.seen] == ["task-1"]
    assert await pending_count(redis_client) == 0


async def test_the_same_request_delivered_twice_runs_the_effect_once_with_the_idempotency_helper(
    redis_client: Redis,
) -> None:
    effects: list[str] = []
    outcomes: list[Outcome] = []
    idempotency = Idempotency(redis_client)

    async def handle(message: EngineeringMessage) -> None:
        async def effect() -> None:
            effects.append(message.task_id)

        outcome, _ = await idempotency.run_once(STREAM, message.request_id, effect)
        outcomes.append(outcome)

    message = engineering()
    publisher = RedisStreamPublisher(redis_client)
    await publisher.publish(STREAM, message)
    await publisher.publish(STREAM, message)
    worker = consumer(redis_client, handle)
    task = asyncio.create_task(worker.run())

    async def both_delivered() -> bool:
        return len(outcomes) == 2

    await eventually(both_delivered)
    worker.stop()
    await task

    assert effects == ["task-0"]
    assert outcomes == [Outcome.RAN, Outcome.ALREADY_DONE]


async def test_graceful_stop_acks_the_message_in_flight_exactly_when_its_handler_finished(
    redis_client: Redis,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    pending_when_handler_returned: list[int] = []

    async def handle(message: EngineeringMessage) -> None:
        started.set()
        await release.wait()
        # A round trip to Redis after the stop: a consumer that cancelled or abandoned its
        # handler on stop would have done so by the time this returns.
        pending_when_handler_returned.append(await pending_count(redis_client))

    await RedisStreamPublisher(redis_client).publish(STREAM, engineering())
    worker = consumer(redis_client, handle)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), 10)

    worker.stop()
    release.set()
    await asyncio.wait_for(task, 10)

    assert pending_when_handler_returned == [1], "the handler ran to its end before the ack"
    assert await pending_count(redis_client) == 0


async def test_entries_read_but_not_started_at_stop_are_handed_straight_back_to_the_group(
    redis_client: Redis,
) -> None:
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(message: EngineeringMessage) -> None:
        started.set()
        await release.wait()

    publisher = RedisStreamPublisher(redis_client)
    for i in range(5):
        await publisher.publish(STREAM, engineering(i))
    slow_options = ConsumerOptions(block_ms=100, claim_idle_ms=60_000, claim_interval_s=0.1)
    first = consumer(redis_client, slow, name="first", options=slow_options)
    task = asyncio.create_task(first.run())
    await asyncio.wait_for(started.wait(), 10)
    first.stop()
    release.set()
    await task

    recorder = Recorder()
    second = consumer(redis_client, recorder, name="second", options=slow_options)
    task = asyncio.create_task(second.run())
    await eventually(lambda: recorder.count(4), within=5)
    second.stop()
    await task
    assert [m.task_id for m in recorder.seen] == ["task-1", "task-2", "task-3", "task-4"]


@pytest.mark.redis_restart
async def test_a_consumer_survives_a_redis_restart_and_loses_nothing(
    restartable_redis: RedisServer, redis_client: Redis
) -> None:
    recorder = Recorder()
    options = ConsumerOptions(
        block_ms=100, claim_idle_ms=500, claim_interval_s=0.2, reconnect_max_s=0.5
    )
    worker = consumer(redis_client, recorder, options=options)
    task = asyncio.create_task(worker.run())
    publisher = RedisStreamPublisher(redis_client)
    for i in range(10):
        await publisher.publish(STREAM, engineering(i))
    await eventually(lambda: recorder.count(10))

    await asyncio.to_thread(restartable_redis.restart)
    for i in range(10, 20):
        await _publish_retrying(publisher, engineering(i))
    await eventually(lambda: recorder.count(20), within=20)
    worker.stop()
    await task

    assert sorted({int(m.task_id.split("-")[1]) for m in recorder.seen}) == list(range(20))
    assert await pending_count(redis_client) == 0


@pytest.mark.redis_restart
async def test_a_consumer_recreates_its_group_when_redis_comes_back_empty(
    restartable_redis: RedisServer, redis_client: Redis
) -> None:
    recorder = Recorder()
    worker = consumer(redis_client, recorder, options=FAST)
    task = asyncio.create_task(worker.run())
    publisher = RedisStreamPublisher(redis_client)
    await publisher.publish(STREAM, engineering(1))
    await eventually(lambda: recorder.count(1))

    await asyncio.to_thread(restartable_redis.restart, keep_data=False)
    assert await _retrying(lambda: redis_client.xlen(STREAM)) == 0, "Redis came back empty"
    await _publish_retrying(publisher, engineering(2))
    await eventually(lambda: recorder.count(2), within=20)
    worker.stop()
    await task
    assert [m.task_id for m in recorder.seen] == ["task-1", "task-2"]


async def _retrying(call: Callable[[], Awaitable[T]]) -> T:
    """The call's result once the restarted Redis answers it (the client reconnects)."""
    for _ in range(50):
        try:
            return await call()
        except (ConnectionError, OSError):
            await asyncio.sleep(0.1)
    raise AssertionError("Redis did not come back")


async def _publish_retrying(publisher: RedisStreamPublisher, message: EngineeringMessage) -> None:
    await _retrying(lambda: publisher.publish(STREAM, message))
