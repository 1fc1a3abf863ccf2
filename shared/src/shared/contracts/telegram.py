"""What people send the Telegram bot, kept from the moment Telegram hands it over."""

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
