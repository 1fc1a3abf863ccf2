"""The Redis adapters that keep the bot's work across restarts, on a real Redis: the lanes'
queues, the live sessions found with SCAN, and a worker's outputs nobody handled yet."""

from __future__ import annotations

from redis.asyncio import Redis
from shared.contracts import POWorkerOutput
from shared.streams import ConsumerOptions, Group, RedisStreamPublisher
from shared.streams.registry import PO_OUTPUT
from telegram_bot.adapters.redis_inbox import RedisQueues
from telegram_bot.adapters.redis_sessions import RedisSessions
from telegram_bot.adapters.redis_workers import RedisWorkers
from telegram_bot.domain.conversation import Incoming, Kind, Session
from telegram_bot.keys import QUEUE


def message(text: str, request_id: str) -> Incoming:
    return Incoming(chat="7", telegram_id=7, text=text, kind=Kind.TEXT, request_id=request_id)


class TestQueues:
    async def test_a_message_is_queued_once_in_order_and_leaves_only_when_handled_first(
        self, redis_client: Redis
    ) -> None:
        queues = RedisQueues(redis_client)
        one, two = message("one", "tg-7-1"), message("two", "tg-7-2")

        assert await queues.add("7", one)
        assert await queues.add("7", two)
        assert not await queues.add("7", one)  # delivered again
        assert await queues.lanes() == ["7"]
        assert await queues.first("7") == one
        await queues.done("7", two)  # not the first: nothing leaves
        assert await queues.first("7") == one
        await queues.done("7", one)
        assert await queues.first("7") == two
        await queues.done("7", two)

        assert await queues.first("7") is None
        assert await queues.lanes() == []
        assert not await queues.add("7", one)  # handled, and still remembered

    async def test_an_unreadable_entry_is_dropped_and_the_next_comes(
        self, redis_client: Redis
    ) -> None:
        queues = RedisQueues(redis_client)
        await redis_client.rpush(QUEUE.name(lane="7"), "not json", '{"request_id": "x"}')
        await queues.add("7", message("one", "tg-7-1"))

        assert await queues.first("7") == message("one", "tg-7-1")


class TestLiveSessions:
    async def test_every_kept_session_is_found(self, redis_client: Redis) -> None:
        sessions = RedisSessions(redis_client)
        for n in range(120):
            await sessions.save(f"user-{n}", Session(chat=str(n), worker_id=f"po-{n}"))

        found = dict(await sessions.live())

        assert len(found) == 120
        assert found["user-7"] == Session(chat="7", worker_id="po-7")


class TestUnreadOutputs:
    async def test_outputs_are_unread_until_handled_through_the_bots_group(
        self, redis_client: Redis
    ) -> None:
        workers = RedisWorkers(
            redis_client, consumer="test", options=ConsumerOptions(block_ms=100, claim_idle_ms=0)
        )
        publisher = RedisStreamPublisher(redis_client)
        stream = PO_OUTPUT.name(worker_id="po-1")
        assert await workers.unread("po-1") == 0

        for text in ("a", "b"):
            await publisher.publish(stream, POWorkerOutput(user_id="u", text=text))
        assert await workers.unread("po-1") == 2
        await redis_client.xgroup_create(stream, Group.TELEGRAM_BOT, id="0")
        assert await workers.unread("po-1") == 2

        async with workers.replies("po-1") as replies:
            first = await replies.next(5)
            assert await workers.unread("po-1") == 2  # read, not yet handled
            second = await replies.next(5)

        assert [first.text if first else None, second.text if second else None] == ["a", "b"]

        assert await workers.unread("po-1") == 0
