"""The bot as a real process on the fake Telegram, the real API and Redis, with an instant
stand-in for worker-manager and its PO workers: who is let in, the quick commands, the bad
inputs, Telegram's flood limits, the API going away, hostile stream entries, and fifty messages
answered in order."""

from __future__ import annotations

import asyncio
import json

import pytest
from bot_testing import MODULE_LOOP, Stack, answer, echo
from shared.contracts import POWorkerInput, POWorkerOutput
from shared.keys import PO_SESSION
from shared.streams.registry import PO_OUTPUT, WORKER_COMMANDS
from shared.testing.servers import RedisServer
from shared.testing.waiting import eventually
from telegram_bot.domain import conversation as texts

pytestmark = MODULE_LOOP


@pytest.fixture(autouse=True)
def echoing_po(stack: Stack) -> None:
    stack.po.reply = echo


def texts_in(stack: Stack, chat: int) -> list[str]:
    return [message.text for message in stack.telegram.sent(chat)]


async def first_messages(stack: Stack, chat: int, n: int) -> list[str]:
    """The bot's first `n` messages in the chat, once there are that many."""
    await stack.telegram.wait(lambda: True if len(stack.telegram.sent(chat)) >= n else None)
    return texts_in(stack, chat)[:n]


async def test_an_unknown_user_is_refused_once_and_nothing_is_started(stack: Stack) -> None:
    commands_before = await stack.redis.xlen(WORKER_COMMANDS.pattern)
    refusals_before = stack.bot.logs().count('"an unknown user was refused"')
    stranger = stack.telegram.user(stack.new_user_id())

    stack.telegram.send_text(stranger, "hello")
    stack.telegram.send_command(stranger, "projects")
    stack.telegram.send_sticker(stranger)

    async def refused_thrice() -> bool:
        logged = stack.bot.logs().count('"an unknown user was refused"') - refusals_before
        return logged >= 3

    await eventually(refused_thrice)
    assert texts_in(stack, stranger.id) == [texts.REFUSED]
    assert await stack.redis.xlen(WORKER_COMMANDS.pattern) == commands_before


async def test_each_quick_command_answers_from_the_api(stack: Stack) -> None:
    alice, alice_id = await stack.user()
    project = await stack.api.project(alice_id, "todo-api", description="Keeps todos")
    await stack.api.post("/api/tasks", {"project_id": project["id"], "type": "engineering"})
    await stack.api.post(
        "/api/servers", {"name": "vps-1", "address": "10.1.2.3", "status": "active"}
    )

    for command in ("projects", "tasks", "servers", "help"):
        stack.telegram.send_command(alice, command)
    projects, tasks, servers, help_ = await first_messages(stack, alice, 4)

    assert "todo-api: draft - Keeps todos" in projects
    assert "engineering of todo-api: queued" in tasks
    assert "vps-1 (10.1.2.3): active" in servers
    assert "/new" in help_


async def test_stickers_photos_voice_and_edits_get_a_polite_word(stack: Stack) -> None:
    alice, _ = await stack.user()

    stack.telegram.send_sticker(alice)
    stack.telegram.send_photo(alice)
    stack.telegram.send_voice(alice)
    sent = stack.telegram.send_text(alice, "first version")
    stack.telegram.edit_text(sent["message"], "second version")
    answers = await first_messages(stack, alice, 5)

    assert sorted(answers) == sorted(
        [texts.TEXT_ONLY] * 3 + [texts.EDITS_UNSEEN, "echo: first version"]
    )


async def test_long_answers_are_split_on_lines_and_markup_is_sent_as_plain_text(
    stack: Stack,
) -> None:
    lines = [f"{n:05d} *bold_ [link](x) `code` <b>tag</b> _under* ." for n in range(250)]
    stack.po.reply = lambda message: [answer(message, "\n".join(lines))]
    alice, _ = await stack.user()

    stack.telegram.send_text(alice, "tell me everything")

    def all_lines() -> list[str] | None:
        received = "\n".join(texts_in(stack, alice)).splitlines()
        return received if len(received) >= len(lines) else None

    assert await stack.telegram.wait(all_lines) == lines
    assert all(len(piece) <= 4096 for piece in texts_in(stack, alice))
    assert all(m.parse_mode is None and not m.entities for m in stack.telegram.sent(alice))


async def test_flood_limits_are_waited_out_and_nothing_is_lost(stack: Stack) -> None:
    stack.po.reply = lambda message: [
        answer(message, "thinking", final=False),
        answer(message, "done"),
    ]
    alice, _ = await stack.user()
    calls_before = len(stack.telegram.calls_to("sendMessage"))

    stack.telegram.fail_next(2, status=429, retry_after=1, methods=["sendMessage"])
    stack.telegram.send_text(alice, "go")

    assert await first_messages(stack, alice, 2) == ["thinking", "done"]
    statuses = [c.status for c in stack.telegram.calls_to("sendMessage")][calls_before:]
    assert statuses[:3] == [429, 429, 200]  # the first message, sent once the wait was over


async def test_fifty_quick_messages_reach_the_po_one_at_a_time_and_are_answered_in_order(
    stack: Stack,
) -> None:
    alice, alice_id = await stack.user()
    answered_before: list[int] = []

    def echo_noting_what_was_answered(message: POWorkerInput) -> list[POWorkerOutput]:
        answered_before.append(len(stack.telegram.sent(alice)))
        return [answer(message, f"echo: {message.prompt}")]

    stack.po.reply = echo_noting_what_was_answered

    for n in range(50):
        stack.telegram.send_text(alice, f"message {n}")
    answers = await first_messages(stack, alice, 50)

    assert answers == [f"echo: message {n}" for n in range(50)]
    assert [m.prompt for m in stack.po.inputs if m.user_id == alice_id] == [
        f"message {n}" for n in range(50)
    ]
    assert answered_before == list(range(50))  # each message went once the last was answered
    assert len([c for c in stack.po.creates if c.context["user_id"] == alice_id]) == 1


async def test_hostile_output_entries_are_dead_lettered_and_the_conversation_goes_on(
    stack: Stack,
) -> None:
    stack.po.reply = lambda message: []
    alice, alice_id = await stack.user()
    stack.telegram.send_text(alice, "one")

    async def sent_to_po() -> POWorkerInput | None:
        return next((m for m in stack.po.inputs if m.user_id == alice_id), None)

    message = await eventually(sent_to_po)
    session = await stack.redis.hgetall(PO_SESSION.name(user_id=alice_id))
    stream = PO_OUTPUT.name(worker_id=str(session["worker_id"]))
    await stack.redis.xadd(stream, {"data": "not json"})
    await stack.redis.xadd(stream, {"data": json.dumps({"text": 1})})
    await stack.redis.xadd(stream, {"junk": "x", "data": "{}"})
    await stack.redis.xadd(stream, {"data": answer(message, "echo: one").model_dump_json()})

    assert await first_messages(stack, alice, 1) == ["echo: one"]
    assert await stack.redis.xlen(stream + ":dlq") == 3
    assert stack.bot.exit_code is None


async def test_the_api_away_is_try_again_shortly_then_it_answers_without_a_restart(
    stack: Stack,
) -> None:
    alice, _ = await stack.user()

    stack.gate.close()
    try:
        stack.telegram.send_text(alice, "one")
        first = await stack.telegram.wait_for_message(alice)
    finally:
        stack.gate.reopen()
    stack.telegram.send_text(alice, "two")
    second = await stack.telegram.wait_for_message(alice, lambda m: m.message_id > first.message_id)

    assert first.text == texts.TRY_AGAIN_SHORTLY
    assert second.text == "echo: two"


@pytest.mark.redis_restart
async def test_redis_away_is_try_again_shortly_then_it_answers_without_a_restart(
    stack: Stack, restartable_redis: RedisServer
) -> None:
    alice, _ = await stack.user()

    await asyncio.to_thread(restartable_redis.stop)
    try:
        stack.telegram.send_text(alice, "one")
        first = await stack.telegram.wait_for_message(alice)
    finally:
        await asyncio.to_thread(restartable_redis.start)
    stack.telegram.send_text(alice, "two")
    second = await stack.telegram.wait_for_message(
        alice, lambda m: m.message_id > first.message_id, within=60
    )

    assert first.text == texts.TRY_AGAIN_SHORTLY
    assert second.text == "echo: two"
    assert stack.bot.exit_code is None
