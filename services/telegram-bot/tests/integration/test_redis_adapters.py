"""The Redis adapters that keep the bot's work across restarts, on a real Redis: the lanes'
queues, the live sessions found with SCAN, a worker's outputs nobody handled yet, and the local
chat's outbox."""

from __future__ import annotations

from typing import cast

import pytest
from redis.asyncio import Redis
from shared.contracts import LocalChatOp, LocalChatOutput, POWorkerOutput
from shared.keys import LOCAL_CHAT_MESSAGE_IDS
from shared.streams import ConsumerOptions, Group, RedisStreamPublisher, connect_redis
from shared.streams.registry import LOCAL_CHAT_OUTBOX, PO_OUTPUT
from shared.streams.wire import decode
from telegram_bot.adapters.local_chat import LocalChat
from telegram_bot.adapters.redis_inbox import RedisQueues
from telegram_bot.adapters.redis_sessions import RedisSessions
from telegram_bot.adapters.redis_workers import RedisWorkers
from telegram_bot.domain.conversation import Incoming, Kind, Session
from telegram_bot.keys import QUEUE
from telegram_bot.ports import ChatRefused, Unavailable


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


class TestLocalChat:
    async def outbox(self, redis: Redis, chat: str) -> list[LocalChatOutput]:
        entries = cast(
            list[tuple[str, dict[str, str]]],
            await redis.xrange(LOCAL_CHAT_OUTBOX.name(chat_id=chat)),
        )
        return [cast(LocalChatOutput, decode(f, LOCAL_CHAT_OUTBOX.adapter)) for _, f in entries]

    async def test_messages_and_edits_go_to_the_outbox_in_order_with_ids_from_the_counter(
        self, redis_client: Redis
    ) -> None:
        chat = LocalChat(redis_client)
        counter = LOCAL_CHAT_MESSAGE_IDS.name(chat_id="7")
        await redis_client.incr(counter)  # the person's first message took 1
        long = "\n".join(f"line {n} *not bold*" for n in range(600))  # over 4096: not cut

        first = await chat.send("7", "hello")
        await redis_client.incr(counter)  # the person's next message took 3
        second = await chat.send("7", long)
        await chat.edit("7", first, "hello again")

        assert (first, second) == ("2", "4")
        assert [(o.chat_id, o.message_id, o.op, o.text) for o in await self.outbox(
            redis_client, "7")] == [
            (7, 2, LocalChatOp.SEND, "hello"),
            (7, 4, LocalChatOp.SEND, long),
            (7, 2, LocalChatOp.EDIT, "hello again"),
        ]  # fmt: skip
        assert await self.outbox(redis_client, "8") == []

    async def test_an_address_that_is_no_local_chat_or_message_is_refused(
        self, redis_client: Redis
    ) -> None:
        chat = LocalChat(redis_client)

        with pytest.raises(ChatRefused):
            await chat.send("not-a-chat", "hello")
        with pytest.raises(ChatRefused):
            await chat.edit("7", "x", "hello")
        with pytest.raises(ChatRefused):
            await chat.edit("7", "0", "hello")

    async def test_redis_away_is_unavailable(self) -> None:
        redis = connect_redis("redis://127.0.0.1:1/0")
        try:
            chat = LocalChat(redis)
            with pytest.raises(Unavailable):
                await chat.send("7", "hello")
            with pytest.raises(Unavailable):
                await chat.edit("7", "1", "hello")
        finally:
            await redis.aclose()
