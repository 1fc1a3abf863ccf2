"""The adapters' own rules that need no server: settings, edits spaced and coalesced, a PO
output acknowledged only once relayed."""

from __future__ import annotations

import asyncio

import pytest
from bot_fakes import FakeChat, FakeClock
from pydantic import ValidationError
from shared.contracts import POWorkerOutput
from telegram_bot.adapters.coalescing_board import CoalescingBoard
from telegram_bot.adapters.redis_workers import OutputBridge, Released
from telegram_bot.config import BotSettings

TOKEN = "123456:AAE-real_looking-token"


class TestSettings:
    def settings(self, **values: object) -> BotSettings:
        return BotSettings.model_validate({"bot_token": TOKEN} | values)

    def test_a_missing_or_misshapen_token_is_refused(self) -> None:
        with pytest.raises(ValidationError, match="BOT_TOKEN"):
            self.settings(bot_token="")
        with pytest.raises(ValidationError, match="BOT_TOKEN"):
            self.settings(bot_token="not a token")

    def test_the_local_chat_needs_no_token_and_telegram_modes_do(self) -> None:
        local = BotSettings.model_validate({"mode": "local"})
        assert (local.mode, local.bot_token) == ("local", None)
        assert BotSettings.model_validate({"mode": "local", "bot_token": ""}).bot_token is None
        production = {"environment": "production", "api_key": "k-1"}
        assert BotSettings.model_validate({"mode": "local"} | production).bot_token is None
        for mode in ("polling", "webhook"):
            with pytest.raises(ValidationError, match=f"{mode} mode needs BOT_TOKEN"):
                BotSettings.model_validate(
                    {"mode": mode, "webhook_url": "https://bot.example/hook",
                     "webhook_secret": "s" * 20}
                )  # fmt: skip
        with pytest.raises(ValidationError, match="BOT_TOKEN"):
            BotSettings.model_validate({"mode": "local", "bot_token": "not a token"})

    def test_a_placeholder_token_is_refused_in_production(self) -> None:
        assert self.settings(bot_token="123:changeme").bot_token
        with pytest.raises(ValidationError, match="real secret"):
            self.settings(bot_token="123:changeme", environment="production", api_key="k-1")

    def test_webhook_mode_needs_a_public_https_url_and_a_secret(self) -> None:
        with pytest.raises(ValidationError, match="WEBHOOK_URL"):
            self.settings(mode="webhook", webhook_secret="s" * 20)
        with pytest.raises(ValidationError, match="WEBHOOK_SECRET"):
            self.settings(mode="webhook", webhook_url="https://bot.example/hook")
        webhook = self.settings(
            mode="webhook", webhook_url="https://bot.example/hook", webhook_secret="s" * 20
        )
        assert webhook.mode == "webhook"

    def test_admins_are_read_from_a_comma_list(self) -> None:
        assert self.settings(admin_telegram_ids="12, 34,").admin_ids == frozenset({12, 34})


class TestCoalescingBoard:
    async def test_edits_in_between_are_coalesced_and_the_last_text_always_shows(self) -> None:
        chat, clock = FakeChat(), FakeClock()
        message_id = await chat.send("1", "Queued")
        board = CoalescingBoard(chat, interval_s=3, clock=clock, sleep=clock.asleep)

        board.show("1", message_id, "A")
        await chat.edited(message_id, 1)
        started = clock.now
        board.show("1", message_id, "B")
        board.show("1", message_id, "C")
        await board.settle("1", message_id, "D")

        assert chat.by_id(message_id).edits == ["A", "D"]
        assert clock.now - started == 3

    async def test_an_unchanged_text_is_not_edited_again(self) -> None:
        chat, clock = FakeChat(), FakeClock()
        message_id = await chat.send("1", "Queued")
        board = CoalescingBoard(chat, interval_s=3, clock=clock, sleep=clock.asleep)

        board.show("1", message_id, "A")
        await chat.edited(message_id, 1)
        await board.settle("1", message_id, "A")

        assert chat.by_id(message_id).edits == ["A"]


class TestOutputBridge:
    def output(self, text: str) -> POWorkerOutput:
        return POWorkerOutput(user_id="u", text=text)

    async def test_an_output_is_acknowledged_once_the_next_is_asked_for(self) -> None:
        bridge = OutputBridge()
        one, two = self.output("one"), self.output("two")
        first = asyncio.create_task(bridge.handle(one))
        second = asyncio.create_task(bridge.handle(two))

        assert await bridge.next(1) == one
        assert not first.done()
        assert await bridge.next(1) == two
        await first
        assert not second.done()
        bridge.close(handled=True)
        await second

    async def test_outputs_not_relayed_are_released_to_come_again(self) -> None:
        bridge = OutputBridge()
        held = asyncio.create_task(bridge.handle(self.output("one")))
        queued = asyncio.create_task(bridge.handle(self.output("two")))
        await bridge.next(1)

        bridge.close(handled=False)

        for task in (held, queued):
            with pytest.raises(Released):
                await task

    async def test_nothing_within_the_wait_is_none(self) -> None:
        assert await OutputBridge().next(0.01) is None
