from __future__ import annotations

import pytest
from redis.asyncio import Redis
from shared.streams import ConsumerOptions, StreamConsumer, connect_redis


async def noop(message: object) -> None:
    pass


def test_the_systems_client_waits_longer_than_a_consumers_blocking_read() -> None:
    client = connect_redis("redis://127.0.0.1:1/0")
    timeout = client.connection_pool.connection_kwargs["socket_timeout"]

    assert timeout * 1000 > ConsumerOptions().block_ms


def test_a_consumer_refuses_a_client_that_would_time_out_during_its_read() -> None:
    client = Redis.from_url("redis://127.0.0.1:1/0", socket_timeout=5)

    with pytest.raises(ValueError, match="shorter than the client's socket timeout"):
        StreamConsumer(
            client, stream="ansible:deploy:queue", group="infra-service", consumer="c", handler=noop
        )
