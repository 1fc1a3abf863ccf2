"""Any front end's way into the conversation core: what a person sends, put in order.

Each person has two lanes: their messages to the PO (and `/new`) go one at a time in the order
sent; quick commands and non-text go in a lane of their own, so `/projects` is answered while
the PO is still thinking. `text` and `other` return at once, having taken the message's place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram_bot.domain import commands
from telegram_bot.domain.lanes import Lanes
from telegram_bot.handlers.conversation import Incoming

Handle = Callable[[Incoming], Awaitable[None]]
HandleOther = Callable[[Incoming, bool], Awaitable[None]]


@dataclass
class Front:
    talk: Handle
    """A message for the PO, or `/new`."""
    command: Handle
    """A quick command."""
    other: HandleOther
    """Anything but text (`True`: an edit)."""
    lanes: Lanes

    def text(self, incoming: Incoming) -> None:
        if commands.is_quick(incoming.text):
            self.lanes.submit(_quick_lane(incoming), lambda: self.command(incoming))
        else:
            self.lanes.submit(str(incoming.telegram_id), lambda: self.talk(incoming))

    def non_text(self, incoming: Incoming, *, edited: bool) -> None:
        self.lanes.submit(_quick_lane(incoming), lambda: self.other(incoming, edited))


def _quick_lane(incoming: Incoming) -> str:
    return f"{incoming.telegram_id}:quick"
