"""Any front end's way into the conversation core: what a person sends, kept, then put in order.

A message is kept before the front end confirms it was received (`take`: Telegram's update is
confirmed only once the message is in `telegram:inbox`). The inbox's consumer then queues it in
its lane (`admit`: once, however often it is delivered; acknowledged once queued); each lane
handles its queue one message at a time, in order, and a message leaves its queue only once
handled. Each chat has two lanes: its messages for the PO (and `/new`) go one turn at a time;
quick commands and non-text go in a lane of their own, so `/projects` is answered while the PO
is still thinking. A bot that stopped, however it stopped, takes up the queues where they were
(`resume`), after relaying what the PO workers said while it was away.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import structlog
from shared.contracts import TelegramMessage, TelegramMessageKind

from telegram_bot.domain import commands
from telegram_bot.domain.conversation import Incoming, Kind
from telegram_bot.domain.lanes import Lanes
from telegram_bot.ports import Queues, Sessions, Unavailable

log = structlog.get_logger("telegram_bot")

T = TypeVar("T")

Handle = Callable[[Incoming], Awaitable[None]]
HandleOther = Callable[[Incoming, bool], Awaitable[None]]
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0


@dataclass
class Front:
    talk: Handle
    """A message for the PO, or `/new`."""
    command: Handle
    """A quick command."""
    other: HandleOther
    """Anything but text (`True`: an edit)."""
    keep: Callable[[TelegramMessage], Awaitable[None]]
    """Append a message to the inbox (raises Unavailable)."""
    unkept: Callable[[Incoming, Exception], Awaitable[None]]
    """Tell the person their message could not be taken."""
    left_over: Callable[[str], Awaitable[None]]
    """Relay what a user's PO worker said while the bot was away (by user id)."""
    queues: Queues
    sessions: Sessions
    lanes: Lanes
    retry_first_s: float = RETRY_FIRST_S
    """Redis away while a lane reads or empties its queue: tried again after this, then twice
    as long each time (up to RETRY_MAX_S)."""
    _woken: set[str] = field(default_factory=set, init=False)
    """Lanes with a turn to read their queue coming (one is enough)."""
    _stopping: bool = field(default=False, init=False)

    async def take(self, message: TelegramMessage) -> None:
        """The front end's handler: returns once the message is kept (or the person was told
        it could not be)."""
        try:
            await self.keep(message)
        except Unavailable as exc:
            await self.unkept(incoming_of(message), exc)

    async def admit(self, message: TelegramMessage) -> None:
        """The inbox consumer's handler: the message queued in its lane, and the lane woken."""
        incoming = incoming_of(message)
        lane = lane_of(incoming)
        if not await self.queues.add(lane, incoming):
            log.info("a message delivered again was queued already", request_id=message.request_id)
        self._wake(lane)

    async def resume(self) -> None:
        """As the bot starts: for each live session, what its PO worker said meanwhile is
        relayed first; then every lane with messages waiting takes them up."""
        for user_id, session in await self.sessions.live():
            if session.worker_id:
                self.lanes.submit(session.chat, functools.partial(self.left_over, user_id))
        for lane in await self.queues.lanes():
            self.resume_lane(lane)

    def resume_lane(self, lane: str) -> None:
        """Take up the lane's queue (once the lane's earlier jobs are done)."""
        self._wake(lane)

    def stop(self) -> None:
        """Each lane finishes the message in hand and takes no other (they stay queued)."""
        self._stopping = True

    def _wake(self, lane: str) -> None:
        if lane not in self._woken and not self._stopping:
            self._woken.add(lane)
            self.lanes.submit(lane, functools.partial(self._drain, lane))

    async def _drain(self, lane: str) -> None:
        self._woken.discard(lane)  # a message queued from now on wakes the lane again
        while not self._stopping:
            incoming = await self._retrying(functools.partial(self.queues.first, lane))
            if incoming is None:
                return
            try:
                await self._handle(incoming)
            except Exception:
                # A handler answers for its own failures; one that did not must not stop the
                # lane, nor be handled again and again.
                log.exception("a message's handling failed", request_id=incoming.request_id)
            await self._retrying(functools.partial(self.queues.done, lane, incoming))

    async def _handle(self, incoming: Incoming) -> None:
        if incoming.kind is not Kind.TEXT:
            await self.other(incoming, incoming.kind is Kind.EDIT)
        elif commands.is_quick(incoming.text):
            await self.command(incoming)
        else:
            await self.talk(incoming)

    async def _retrying(self, step: Callable[[], Awaitable[T]]) -> T:
        delay = self.retry_first_s
        while True:
            try:
                return await step()
            except Unavailable as exc:
                log.warning("the queues are out of reach; trying again", error=str(exc), in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX_S)


def incoming_of(message: TelegramMessage) -> Incoming:
    return Incoming(
        chat=str(message.chat_id),
        telegram_id=message.telegram_id,
        text=message.text,
        kind=_KINDS[message.kind],
        request_id=message.request_id,
    )


def lane_of(incoming: Incoming) -> str:
    """A chat's messages for the PO go in the chat's lane; the rest in its quick lane."""
    if incoming.kind is Kind.TEXT and not commands.is_quick(incoming.text):
        return incoming.chat
    return f"{incoming.chat}:quick"


_KINDS = {
    TelegramMessageKind.TEXT: Kind.TEXT,
    TelegramMessageKind.OTHER: Kind.OTHER,
    TelegramMessageKind.EDIT: Kind.EDIT,
}
