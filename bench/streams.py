"""Publish → handle → ack through the streams layer vs raw redis-py, same server, same run.

Both sides move the same messages the same way: one task publishes them one by one while a
consumer in a group reads batches of 10, handles each message and acknowledges it. The raw side
serialises a dict with `json` and never validates; the layer publishes a DTO and validates it on
the way in. Rounds alternate which side goes first (AB, BA, ...); each round's ratio pairs the
two sides' runs, and the median ratio is reported with the spread (min and max) of the rounds.

Usage: python -P bench/streams.py [--messages N] [--rounds R]  (on a Redis server of its own)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any, cast

from redis.asyncio import Redis
from shared.contracts import EngineeringMessage
from shared.streams import ConsumerOptions, RedisStreamPublisher, StreamConsumer, connect_redis
from shared.testing.servers import RedisServer

STREAM = "engineering:queue"
GROUP = "langgraph"
BATCH = 10
TIMEOUT_S = 120


def sample(i: int) -> EngineeringMessage:
    return EngineeringMessage(task_id=f"task-{i}", project_id="project-1", user_id="user-1")


async def run_layer(url: str, messages: int) -> float:
    producer, consumer_client = connect_redis(url), connect_redis(url)
    await producer.delete(STREAM)
    done = asyncio.Event()
    handled = 0

    async def handle(message: EngineeringMessage) -> None:
        nonlocal handled
        handled += 1
        if handled == messages:
            done.set()

    consumer = StreamConsumer(
        consumer_client,
        stream=STREAM,
        group=GROUP,
        consumer="bench",
        handler=handle,
        options=ConsumerOptions(block_ms=1000, batch_size=BATCH, claim_interval_s=3600),
    )
    await consumer_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    publisher = RedisStreamPublisher(producer)
    payloads = [sample(i) for i in range(messages)]
    running = asyncio.create_task(consumer.run())
    start = time.perf_counter()
    for message in payloads:
        await publisher.publish(STREAM, message)
    await asyncio.wait_for(done.wait(), TIMEOUT_S)
    elapsed = time.perf_counter() - start
    consumer.stop()
    await running
    await _close(producer, consumer_client)
    return messages / elapsed


async def run_raw(url: str, messages: int) -> float:
    producer, consumer_client = connect_redis(url), connect_redis(url)
    await producer.delete(STREAM)
    await consumer_client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    payloads = [sample(i).model_dump(mode="json") for i in range(messages)]

    async def consume() -> None:
        handled = 0
        while handled < messages:
            response = cast(
                list[tuple[str, list[tuple[str, dict[str, str]]]]],
                await consumer_client.xreadgroup(
                    GROUP, "bench", {STREAM: ">"}, count=BATCH, block=1000
                ),
            )
            for _, entries in response:
                for entry_id, fields in entries:
                    json.loads(fields["data"])
                    await consumer_client.xack(STREAM, GROUP, entry_id)
                    handled += 1

    running = asyncio.create_task(consume())
    start = time.perf_counter()
    for payload in payloads:
        fields: dict[Any, Any] = {"data": json.dumps(payload)}
        await producer.xadd(STREAM, fields)
    await asyncio.wait_for(running, TIMEOUT_S)
    elapsed = time.perf_counter() - start
    await _close(producer, consumer_client)
    return messages / elapsed


async def _close(*clients: Redis) -> None:
    for client in clients:
        await client.delete(STREAM)
        await client.aclose()


async def main(messages: int, rounds: int) -> None:
    server = RedisServer()
    server.start()
    url = server.url
    try:
        await run_raw(url, 200)  # warm up both paths
        await run_layer(url, 200)
        layer, raw, ratios = [], [], []
        for round_no in range(rounds):
            if round_no % 2 == 0:
                raw.append(await run_raw(url, messages))
                layer.append(await run_layer(url, messages))
            else:
                layer.append(await run_layer(url, messages))
                raw.append(await run_raw(url, messages))
            ratios.append(raw[-1] / layer[-1])
            print(
                f"round {round_no + 1}: raw {raw[-1]:.0f} msg/s, layer {layer[-1]:.0f} msg/s, "
                f"ratio {ratios[-1]:.2f}"
            )
        print(
            f"RESULT streams overhead_ratio={statistics.median(ratios):.2f} "
            f"ratio_min={min(ratios):.2f} ratio_max={max(ratios):.2f} "
            f"layer_msgs_per_s={statistics.median(layer):.0f} "
            f"raw_msgs_per_s={statistics.median(raw):.0f} rounds={rounds}"
        )
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    asyncio.run(main(args.messages, args.rounds))
