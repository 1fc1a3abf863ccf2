"""What people send the Telegram bot, kept from the moment Telegram hands it over; and what the
bot says in a local chat (MODE=local), where a terminal stands in for Telegram."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import Field

from shared.contracts.base import Message


class TelegramMessageKind(StrEnum):
    TEXT = "text"
    """Text, commands included."""
    OTHER = "other"
    """A sticker, photo, voice message, file: anything but text."""
    EDIT = "edit"
    """An edit of a message sent earlier."""


class TelegramMessage(Message):
    """A message a person sent the bot in a private chat. Its request_id is made from the chat
    and the message (`tg-{chat_id}-{message_id}`, an edit adds `-e{its date}`), so a message
    Telegram or the stream delivers twice is handled once: build it with `received`."""

    telegram_id: int = Field(gt=0, description="Who sent it: their Telegram user id.")
    chat_id: int = Field(description="The chat it was sent in (where it is answered).")
    message_id: int = Field(gt=0, description="Telegram's id of the message in its chat.")
    kind: TelegramMessageKind = Field(description="Text, anything else, or an edit.")
    text: str = Field(default="", description="What it says (empty for anything but text).")
    date: datetime = Field(description="When it was sent; for an edit, when it was edited.")

    @classmethod
    def received(
        cls,
        *,
        telegram_id: int,
        chat_id: int,
        message_id: int,
        kind: TelegramMessageKind,
        date: datetime,
        text: str = "",
    ) -> TelegramMessage:
        """The message, with the request_id its chat and id make."""
        request_id = f"tg-{chat_id}-{message_id}"
        if kind is TelegramMessageKind.EDIT:
            request_id += f"-e{int(date.timestamp())}"
        return cls(
            request_id=request_id, telegram_id=telegram_id, chat_id=chat_id,
            message_id=message_id, kind=kind, text=text, date=date,
        )  # fmt: skip


class LocalChatOp(StrEnum):
    SEND = "send"
    """A new message."""
    EDIT = "edit"
    """A new text for a message sent earlier (by its message_id)."""


class LocalChatOutput(Message):
    """What the bot says in a local chat (MODE=local), in the order said: a terminal front end
    shows each `send` as a new message and each `edit` as the new text of the message it names.
    Message ids come from the chat's counter (`chat:local:{chat_id}:message_ids`), shared with
    the person's own messages, so they never repeat. Texts are plain (no markup is meant)."""

    chat_id: int = Field(description="The chat it is said in (the person's Telegram id).")
    message_id: int = Field(gt=0, description="The message sent, or the one edited.")
    op: LocalChatOp = Field(description="A new message, or an edit of one sent earlier.")
    text: str = Field(description="The message's whole text (never cut in pieces).")
