"""The front door with fakes of its queues and handlers: a message kept before its receipt is
confirmed, queued once, handled in its lane's order and leaving its queue only once handled;
what a live session's worker said meanwhile relayed before the queued messages at a start."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot_fakes import Down, FakeQueues, FakeSessions
from shared.contracts import TelegramMessage, TelegramMessageKind
from telegram_bot.domain.conversation import Incoming, Session
from telegram_bot.domain.lanes import Lanes
from telegram_bot.entrypoints.front import Front

CHAT = 1001
_ids = itertools.count(1)


def sent(text: str = "", kind: TelegramMessageKind = TelegramMessageKind.TEXT) -> TelegramMessage:
    return TelegramMessage.received(
        telegram_id=CHAT, chat_id=CHAT, message_id=next(_ids), kind=kind, text=text,
        date=datetime(2025, 1, 1, tzinfo=UTC),
    )  # fmt: skip


@dataclass
class Door:
    """A Front whose handlers note what they were given; a text in `held` waits for its gate."""

    queues: FakeQueues = field(default_factory=FakeQueues)
    sessions: FakeSessions = field(default_factory=FakeSessions)
    inbox_down: Down = field(default_factory=Down)
    kept: list[TelegramMessage] = field(default_factory=list)
    handled: list[str] = field(default_factory=list)
    unkept: list[str] = field(default_factory=list)
    held: dict[str, asyncio.Event] = field(default_factory=dict)
    started: dict[str, asyncio.Event] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.front = Front(
            talk=self._note("talk"),
            command=self._note("command"),
            other=lambda incoming, edited: self._note("edit" if edited else "other")(incoming),
            keep=self._keep,
            unkept=self._unkept,
            left_over=self._left_over,
            queues=self.queues,
            sessions=self.sessions,
            lanes=Lanes(),
        )

    def hold(self, text: str) -> asyncio.Event:
        self.started[text] = asyncio.Event()
        self.held[text] = gate = asyncio.Event()
        return gate

    def _note(self, what: str) -> Callable[[Incoming], Awaitable[None]]:
        async def handle(incoming: Incoming) -> None:
            if incoming.text in self.held:
                self.started[incoming.text].set()
                await self.held[incoming.text].wait()
            if incoming.text == "boom":
                raise RuntimeError("a handler that did not answer for its failure")
            self.handled.append(f"{what} {incoming.text}".strip())
            self.changed.set()

        return handle

    async def handled_count(self, n: int) -> None:
        while len(self.handled) < n:
            self.changed.clear()
            await self.changed.wait()

    async def _keep(self, message: TelegramMessage) -> None:
        self.inbox_down.check()
        self.kept.append(message)

    async def _unkept(self, incoming: Incoming, error: Exception) -> None:
        self.unkept.append(incoming.request_id)

    async def _left_over(self, user_id: str) -> None:
        self.handled.append(f"left over of {user_id}")

    async def admit_all(self, *messages: TelegramMessage) -> None:
        for message in messages:
            await self.front.admit(message)


class TestTaking:
    async def test_a_message_is_kept_in_the_inbox_or_the_person_is_told(self) -> None:
        door = Door()
        first, second = sent("one"), sent("two")

        await door.front.take(first)
        door.inbox_down.on = True
        await door.front.take(second)

        assert door.kept == [first]
        assert door.unkept == [second.request_id]

    async def test_its_request_id_is_made_from_the_chat_and_the_message(self) -> None:
        def received(kind: TelegramMessageKind, date: datetime) -> str:
            message = TelegramMessage.received(
                telegram_id=7, chat_id=7, message_id=42, kind=kind, date=date
            )
            return message.request_id

        sent_at, edited_at = datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)

        assert received(TelegramMessageKind.TEXT, sent_at) == "tg-7-42"
        assert received(TelegramMessageKind.TEXT, edited_at) == "tg-7-42"
        assert received(TelegramMessageKind.EDIT, edited_at) == "tg-7-42-e1735776000"


class TestOrder:
    async def test_a_chats_messages_go_one_at_a_time_in_order_and_quick_ones_beside(
        self,
    ) -> None:
        door = Door()
        gate = door.hold("one")

        await door.admit_all(
            sent("one"), sent("two"), sent("/projects"), sent(kind=TelegramMessageKind.OTHER)
        )
        await door.started["one"].wait()
        await door.handled_count(2)

        assert door.handled == ["command /projects", "other"]
        gate.set()
        await door.front.lanes.idle()
        assert door.handled[2:] == ["talk one", "talk two"]
        assert door.queues.queues == {}

    async def test_a_message_delivered_twice_is_handled_once(self) -> None:
        door = Door()
        message = sent("one")

        await door.admit_all(message, message)
        await door.front.lanes.idle()

        assert door.handled == ["talk one"]

    async def test_a_message_whose_handling_failed_leaves_its_queue_and_the_next_goes(
        self,
    ) -> None:
        door = Door()

        await door.admit_all(sent("boom"), sent("two"))
        await door.front.lanes.idle()

        assert door.handled == ["talk two"]
        assert door.queues.queues == {}

    async def test_once_stopping_the_message_in_hand_ends_and_the_rest_stay_queued(
        self,
    ) -> None:
        door = Door()
        gate = door.hold("one")
        await door.admit_all(sent("one"), sent("two"))
        await door.started["one"].wait()

        door.front.stop()
        gate.set()
        await door.front.lanes.idle()

        assert door.handled == ["talk one"]
        assert [m.text for m in door.queues.queues[str(CHAT)]] == ["two"]


class TestResuming:
    async def test_what_the_po_said_meanwhile_goes_before_the_messages_left_queued(
        self,
    ) -> None:
        door = Door()
        door.sessions.sessions = {
            "alice": Session(chat=str(CHAT), worker_id="po-1"),
            "bob": Session(chat="2002"),  # no worker: nothing to relay
        }
        await door.queues.add(str(CHAT), Incoming(chat=str(CHAT), telegram_id=CHAT, text="one"))
        await door.queues.add(
            f"{CHAT}:quick", Incoming(chat=str(CHAT), telegram_id=CHAT, text="/help")
        )

        await door.front.resume()
        await door.front.lanes.idle()

        assert door.handled.index("left over of alice") < door.handled.index("talk one")
        assert sorted(door.handled) == ["command /help", "left over of alice", "talk one"]

    async def test_the_queues_out_of_reach_are_tried_again_until_back(self) -> None:
        door = Door()
        await door.queues.add(str(CHAT), Incoming(chat=str(CHAT), telegram_id=CHAT, text="one"))
        refused = asyncio.Event()
        door.queues.down = Refusing(refused)
        door.front.retry_first_s = 0.01

        door.front.resume_lane(str(CHAT))
        await refused.wait()
        door.queues.down.on = False
        await door.front.lanes.idle()

        assert door.handled == ["talk one"]


class Refusing(Down):
    """Down, and says so once it refused."""

    def __init__(self, refused: asyncio.Event) -> None:
        super().__init__()
        self.on = True
        self.refused = refused

    def check(self) -> None:
        if self.on:
            self.refused.set()
        super().check()
