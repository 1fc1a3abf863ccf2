"""The fake Telegram Bot API against the real aiogram client: what the bot's tests rely on.

No mocks: aiogram's Bot (and a Dispatcher) talk HTTP to `FakeTelegram` on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    TelegramBadRequest,
    TelegramConflictError,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramUnauthorizedError,
)
from aiogram.filters import CommandStart
from aiogram.types import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from shared.testing.fake_telegram import FakeTelegram, FakeUser

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
KEYBOARD = InlineKeyboardMarkup(
    inline_keyboard=[
        [
            InlineKeyboardButton(text="Yes", callback_data="yes"),
            InlineKeyboardButton(text="No", callback_data="no"),
        ]
    ]
)


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    with FakeTelegram() as fake:
        yield fake


@contextlib.asynccontextmanager
async def connected(telegram: FakeTelegram, token: str | None = None) -> AsyncIterator[Bot]:
    session = AiohttpSession(api=TelegramAPIServer.from_base(telegram.url))
    bot = Bot(token or telegram.token, session=session)
    try:
        yield bot
    finally:
        await bot.session.close()


@pytest_asyncio.fixture
async def bot(telegram: FakeTelegram) -> AsyncIterator[Bot]:
    async with connected(telegram) as client:
        yield client


@pytest.fixture
def alice(telegram: FakeTelegram) -> FakeUser:
    return telegram.user(first_name="Alice", username="alice")


async def finish(task: asyncio.Task[Any]) -> None:
    """Cancel `task` if it still runs and wait for it to end."""
    if not task.done():
        task.cancel()
    await asyncio.wait({task})


class TestTheBot:
    async def test_get_me_answers_the_bot_user(self, telegram: FakeTelegram, bot: Bot) -> None:
        me = await bot.get_me()

        assert (me.id, me.is_bot, me.username) == (telegram.bot_id, True, telegram.bot_username)
        assert [call.method for call in telegram.calls] == ["getMe"]

    async def test_a_wrong_token_is_unauthorized(self, telegram: FakeTelegram) -> None:
        async with connected(telegram, token=f"{telegram.bot_id}:not-the-token") as stranger:
            with pytest.raises(TelegramUnauthorizedError) as caught:
                await stranger.get_me()

        assert caught.value.message == "Unauthorized"
        assert telegram.calls[-1].status == 401


class TestPolling:
    async def test_injected_messages_arrive_in_order_and_a_confirmed_update_is_not_redelivered(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        hello = telegram.send_text(alice, "hello")
        start = telegram.send_command(alice, "start", "now")

        updates = await bot.get_updates()
        unconfirmed = await bot.get_updates()
        confirmed = await bot.get_updates(offset=start["update_id"] + 1)
        more = telegram.send_text(alice, "more")
        later = await bot.get_updates(offset=start["update_id"] + 1)

        assert [u.update_id for u in updates] == [hello["update_id"], start["update_id"]]
        first, second = (u.message for u in updates)
        assert first is not None
        assert second is not None
        assert (first.text, second.text) == ("hello", "/start now")
        assert second.message_id == first.message_id + 1
        assert second.from_user is not None
        assert second.from_user.id == alice.id
        assert second.chat.id == alice.id
        assert second.chat.type == "private"
        assert second.entities is not None
        assert [(e.type, e.offset, e.length) for e in second.entities] == [("bot_command", 0, 6)]
        assert [u.update_id for u in unconfirmed] == [u.update_id for u in updates]
        assert confirmed == []
        assert [u.update_id for u in later] == [more["update_id"]]

    async def test_every_kind_of_update_the_fake_builds_is_one_aiogram_reads(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        text = telegram.send_text(alice, "first draft")
        telegram.send_sticker(alice, "🎉")
        telegram.send_photo(alice, caption="a screenshot")
        telegram.send_voice(alice, duration=4)
        telegram.edit_text(text, "second draft")
        telegram.block(alice)

        updates = await bot.get_updates()

        sticker, photo, voice = (u.message for u in updates[1:4])
        assert sticker is not None
        assert sticker.sticker is not None
        assert sticker.sticker.emoji == "🎉"
        assert photo is not None
        assert photo.photo is not None
        assert photo.caption == "a screenshot"
        assert photo.photo[-1].width == 1280
        assert voice is not None
        assert voice.voice is not None
        assert voice.voice.duration == 4
        edited = updates[4].edited_message
        assert edited is not None
        assert edited.text == "second draft"
        assert edited.message_id == text["message"]["message_id"]
        member = updates[5].my_chat_member
        assert member is not None
        assert member.new_chat_member.status == "kicked"

    async def test_a_long_poll_returns_as_soon_as_an_update_is_injected(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        # An hour's poll: only the injected update can end it before the test's own timeout.
        poll = asyncio.create_task(bot.get_updates(timeout=3600, request_timeout=3700))
        try:
            await telegram.wait_for_poll()
            assert not poll.done()
            update = telegram.send_text(alice, "wake up")
            updates = await poll
        finally:
            await finish(poll)

        assert [u.update_id for u in updates] == [update["update_id"]]

    async def test_a_second_poller_ends_the_first_with_a_conflict(
        self, telegram: FakeTelegram, bot: Bot
    ) -> None:
        first = asyncio.create_task(bot.get_updates(timeout=3600, request_timeout=3700))
        try:
            await telegram.wait_for_poll()
            assert await bot.get_updates() == []
            with pytest.raises(TelegramConflictError) as caught:
                await first
        finally:
            await finish(first)

        assert caught.value.message.startswith("Conflict: terminated by other getUpdates request")

    async def test_deleting_the_webhook_drops_pending_updates_when_asked(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        telegram.send_text(alice, "sent while the bot was down")

        assert await bot.delete_webhook() is True
        assert len(await bot.get_updates()) == 1
        assert await bot.delete_webhook(drop_pending_updates=True) is True
        assert await bot.get_updates() == []
        assert (await bot.get_webhook_info()).url == ""


class TestMessages:
    async def test_a_sent_message_and_its_edit_are_what_the_chat_shows(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        sent = await bot.send_message(alice.id, "Deploy?", reply_markup=KEYBOARD)
        edited = await bot.edit_message_text(
            "Deploying", chat_id=alice.id, message_id=sent.message_id
        )

        assert sent.text == "Deploy?"
        assert sent.reply_markup is not None
        assert sent.reply_markup.model_dump() == KEYBOARD.model_dump()
        assert sent.from_user is not None
        assert sent.from_user.id == telegram.bot_id
        assert isinstance(edited, Message)
        assert edited.text == "Deploying"
        assert edited.edit_date is not None
        assert edited.reply_markup is None  # an edit without a keyboard removes it
        [shown] = telegram.sent(alice)
        assert (shown.message_id, shown.text, shown.history) == (
            sent.message_id,
            "Deploying",
            ("Deploy?",),
        )
        # aiogram posts a form: strings as they are, objects JSON-encoded.
        call = telegram.calls_to("sendMessage")[0]
        assert call.params["chat_id"] == str(alice.id)
        assert isinstance(call.params["reply_markup"], str)

    async def test_editing_to_the_same_content_is_refused_as_not_modified(
        self, bot: Bot, alice: FakeUser
    ) -> None:
        sent = await bot.send_message(alice.id, "Same", reply_markup=KEYBOARD)

        with pytest.raises(TelegramBadRequest) as caught:
            await bot.edit_message_text(
                "Same", chat_id=alice.id, message_id=sent.message_id, reply_markup=KEYBOARD
            )

        assert caught.value.message == NOT_MODIFIED

    async def test_editing_a_message_that_is_not_there_is_refused(
        self, bot: Bot, alice: FakeUser
    ) -> None:
        with pytest.raises(TelegramBadRequest) as caught:
            await bot.edit_message_text("Hi", chat_id=alice.id, message_id=999)

        assert caught.value.message == "Bad Request: message to edit not found"

    async def test_4096_characters_pass_and_4097_are_refused(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        await bot.send_message(alice.id, "x" * 4096)
        await bot.send_message(alice.id, "<b>" + "y" * 4096 + "</b>", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest) as caught:
            await bot.send_message(alice.id, "z" * 4097)

        assert caught.value.message == "Bad Request: message is too long"
        assert [len(m.text) for m in telegram.sent(alice)] == [4096, 4096]

    async def test_unescaped_markdown_v2_is_refused_as_telegram_refuses_it(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        with pytest.raises(TelegramBadRequest) as caught:
            await bot.send_message(alice.id, "Version 1.0 is *out*!", parse_mode="MarkdownV2")
        sent = await bot.send_message(
            alice.id, "Version 1\\.0 is *out*\\!", parse_mode="MarkdownV2"
        )

        assert caught.value.message == (
            "Bad Request: can't parse entities: "
            "Character '.' is reserved and must be escaped with the preceding '\\'"
        )
        assert sent.text == "Version 1.0 is out!"
        assert sent.entities is not None
        assert [(e.type, e.offset, e.length) for e in sent.entities] == [("bold", 15, 3)]
        assert [m.text for m in telegram.sent(alice)] == ["Version 1.0 is out!"]

    async def test_unbalanced_html_is_refused_as_telegram_refuses_it(
        self, bot: Bot, alice: FakeUser
    ) -> None:
        with pytest.raises(TelegramBadRequest) as unclosed:
            await bot.send_message(alice.id, "<b>bold", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest) as crossed:
            await bot.send_message(alice.id, "<b>bold</i>", parse_mode="HTML")
        with pytest.raises(TelegramBadRequest) as unknown:
            await bot.send_message(alice.id, "1 <2 and 3> 2", parse_mode="HTML")

        prefix = "Bad Request: can't parse entities: "
        assert unclosed.value.message == (
            prefix + 'Can\'t find end tag corresponding to start tag "b"'
        )
        assert crossed.value.message == (
            prefix + 'Unmatched end tag at byte offset 7, expected "</b>", found "</i>"'
        )
        assert unknown.value.message == prefix + 'Unsupported start tag "2" at byte offset 2'

    async def test_a_blocked_user_is_forbidden_until_unblocked(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        telegram.block(alice)
        with pytest.raises(TelegramForbiddenError) as caught:
            await bot.send_message(alice.id, "Are you there?")
        with pytest.raises(TelegramForbiddenError):
            await bot.send_chat_action(alice.id, "typing")
        telegram.unblock(alice)
        await bot.send_message(alice.id, "Welcome back")

        assert caught.value.message == "Forbidden: bot was blocked by the user"
        assert [m.text for m in telegram.sent(alice)] == ["Welcome back"]

    async def test_a_chat_the_bot_never_had_is_not_found(self, bot: Bot) -> None:
        with pytest.raises(TelegramBadRequest) as caught:
            await bot.send_message(424242, "Hello?")

        assert caught.value.message == "Bad Request: chat not found"


class TestFailures:
    async def test_a_429_raises_retry_after_with_its_seconds(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        telegram.fail_next(status=429, retry_after=7, methods=["sendMessage"])

        with pytest.raises(TelegramRetryAfter) as caught:
            await bot.send_message(alice.id, "too soon")
        await bot.send_message(alice.id, "later")

        assert caught.value.retry_after == 7
        assert "Too Many Requests: retry after 7" in caught.value.message
        assert [m.text for m in telegram.sent(alice)] == ["later"]

    async def test_the_flood_rule_refuses_a_send_within_its_window_of_the_clock(self) -> None:
        now = [1_700_000_000.0]
        with FakeTelegram(clock=lambda: now[0]) as telegram:
            alice = telegram.user()
            telegram.set_flood_limit(1, per_s=3.0)
            async with connected(telegram) as bot:
                await bot.send_message(alice.id, "one")
                now[0] += 1.0
                with pytest.raises(TelegramRetryAfter) as caught:
                    await bot.send_message(alice.id, "two")
                now[0] += 2.0
                await bot.send_message(alice.id, "three")

        assert caught.value.retry_after == 2
        assert [m.text for m in telegram.sent(alice)] == ["one", "three"]

    async def test_a_method_the_fake_does_not_know_is_not_found_and_recorded(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        with pytest.raises(TelegramNotFound) as caught:
            await bot.send_dice(alice.id)

        assert caught.value.message == "Not Found"
        [call] = telegram.calls_to("sendDice")
        assert call.status == 404
        assert call.params["chat_id"] == str(alice.id)


class TestCommandsActionsAndDeletion:
    async def test_commands_chat_actions_and_deleted_messages_are_kept(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        commands = [
            BotCommand(command="start", description="Start"),
            BotCommand(command="status", description="Your tasks"),
        ]

        assert await bot.set_my_commands(commands) is True
        assert [c.model_dump() for c in await bot.get_my_commands()] == [
            c.model_dump() for c in commands
        ]
        assert await bot.send_chat_action(alice.id, "typing") is True
        sent = await bot.send_message(alice.id, "Temporary")
        assert await bot.delete_message(alice.id, sent.message_id) is True
        with pytest.raises(TelegramBadRequest) as again:
            await bot.delete_message(alice.id, sent.message_id)

        assert telegram.commands() == [
            {"command": "start", "description": "Start"},
            {"command": "status", "description": "Your tasks"},
        ]
        assert telegram.chat_actions(alice) == ["typing"]
        assert telegram.sent(alice) == []
        assert [m.deleted for m in telegram.sent(alice, include_deleted=True)] == [True]
        assert again.value.message == "Bad Request: message to delete not found"


class TestADispatcher:
    async def test_it_answers_a_command_and_a_button_end_to_end_and_stops_cleanly(
        self, telegram: FakeTelegram, bot: Bot, alice: FakeUser
    ) -> None:
        router = Router()

        @router.message(CommandStart())
        async def start(message: Message) -> None:
            await message.answer("Hello, <b>Alice</b>", parse_mode="HTML", reply_markup=KEYBOARD)

        @router.callback_query(F.data == "yes")
        async def yes(query: CallbackQuery) -> None:
            await query.answer("Noted")
            assert isinstance(query.message, Message)
            await query.message.edit_text("You said yes")

        dispatcher = Dispatcher()
        dispatcher.include_router(router)
        polling = asyncio.create_task(
            dispatcher.start_polling(bot, handle_signals=False, polling_timeout=30)
        )
        try:
            await telegram.wait_for_poll()
            telegram.send_command(alice, "start")
            hello = await telegram.wait_for_message(alice, lambda m: m.text == "Hello, Alice")
            telegram.press(alice, "yes")
            answered = await telegram.wait_for_message(alice, lambda m: m.text == "You said yes")
            await dispatcher.stop_polling()
        finally:
            await finish(polling)

        assert polling.exception() is None
        assert hello.entities == ({"type": "bold", "offset": 7, "length": 5},)
        assert hello.callback_data == ["yes", "no"]
        assert answered.message_id == hello.message_id
        assert answered.history == ("Hello, Alice",)
        [pressed] = telegram.pressed
        assert pressed.answer is not None
        assert pressed.answer["text"] == "Noted"
        allowed = json.loads(telegram.calls_to("getUpdates")[0].params["allowed_updates"])
        assert sorted(allowed) == ["callback_query", "message"]
