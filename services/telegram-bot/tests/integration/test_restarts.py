"""The bot killed, or stopped, and started again (a real process on the fake Telegram, the real
API and Redis, the instant PO stand-in): the messages Telegram handed it are answered once each,
in order, and what the PO said while it was down reaches the user without their writing again."""

from __future__ import annotations

from typing import cast

from bot_testing import MODULE_LOOP, Stack, answer, echo
from shared.contracts import POWorkerInput, POWorkerOutput
from shared.keys import PO_SESSION
from shared.streams import RedisStreamPublisher
from shared.streams.registry import PO_OUTPUT
from shared.testing.waiting import eventually

pytestmark = MODULE_LOOP

RESUMED = '"a message sent to the PO before a restart: its answer is awaited"'


def texts_in(stack: Stack, chat: int) -> list[str]:
    return [message.text for message in stack.telegram.sent(chat)]


async def first_messages(stack: Stack, chat: int, n: int) -> list[str]:
    """The bot's first `n` messages in the chat, once there are that many."""
    await stack.telegram.wait(lambda: True if len(stack.telegram.sent(chat)) >= n else None)
    return texts_in(stack, chat)[:n]


async def worker_of(stack: Stack, user_id: str) -> str:
    session = cast(dict[str, str], await stack.redis.hgetall(PO_SESSION.name(user_id=user_id)))
    return session["worker_id"]


async def test_messages_waiting_behind_a_slow_turn_outlive_a_kill_and_are_answered_once_in_order(
    stack: Stack,
) -> None:
    alice, alice_id = await stack.user()
    held: list[POWorkerInput] = []

    def hold_the_first(message: POWorkerInput) -> list[POWorkerOutput]:
        if message.prompt == "one":
            held.append(message)  # the PO is still thinking about it
            return []
        return echo(message)

    stack.po.reply = hold_the_first
    stack.telegram.send_text(alice, "one")

    async def first_one_held() -> bool:
        return bool(held)

    await eventually(first_one_held)
    stack.telegram.send_text(alice, "two")
    stack.telegram.send_text(alice, "three")
    # Once Telegram counts the updates as delivered, the messages are the bot's to keep.
    await stack.telegram.wait(lambda: True if not stack.telegram.pending_updates else None)

    await stack.kill_bot()
    resumed_before = stack.bot.logs().count(RESUMED)
    stack.start_bot()

    async def first_turn_resumed() -> bool:
        return stack.bot.logs().count(RESUMED) > resumed_before

    await eventually(first_turn_resumed)
    worker = await worker_of(stack, alice_id)
    await RedisStreamPublisher(stack.redis).publish(
        PO_OUTPUT.name(worker_id=worker), answer(held[0], "echo: one")
    )
    stack.telegram.send_text(alice, "four")

    answers = await first_messages(stack, alice, 4)
    assert answers == ["echo: one", "echo: two", "echo: three", "echo: four"]
    assert texts_in(stack, alice) == answers  # nothing answered twice before "four"
    prompts = [m.prompt for m in stack.po.inputs if m.user_id == alice_id]
    assert prompts == ["one", "two", "three", "four"]  # "one" was not sent again
    assert stack.bot.exit_code is None


async def test_what_the_po_said_while_the_bot_was_down_is_relayed_as_it_starts(
    stack: Stack,
) -> None:
    stack.po.reply = echo
    alice, alice_id = await stack.user()
    stack.telegram.send_text(alice, "one")
    await stack.telegram.wait_for_message(alice)
    worker = await worker_of(stack, alice_id)

    await stack.stop_bot()
    news = POWorkerOutput(user_id=alice_id, text="Your todo API is live.", is_final=True)
    await RedisStreamPublisher(stack.redis).publish(PO_OUTPUT.name(worker_id=worker), news)
    stack.start_bot()

    await stack.telegram.wait_for_message(alice, lambda m: m.text == news.text, within=60)
    stack.telegram.send_text(alice, "two")
    await stack.telegram.wait_for_message(alice, lambda m: m.text == "echo: two")
    assert texts_in(stack, alice) == ["echo: one", news.text, "echo: two"]
