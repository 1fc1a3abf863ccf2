"""The local chat (MODE=local): the bot as a real process without a token or any Telegram, on
the real API and Redis, with an instant stand-in for worker-manager and its PO workers. A person
talks as the terminal does: their lines appended to `telegram:inbox`, with ids from the chat's
counter; what the bot says read from `chat:local:{chat_id}:outbox`."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from api.testing import LiveApi
from bot_testing import MODULE_LOOP, LocalStack, echo, local_bot_stack, process_env
from shared.contracts import (
    EngineeringMessage,
    EngineeringResult,
    LocalChatOp,
    LocalChatOutput,
    OutcomeStatus,
    ProgressEvent,
    ProgressType,
    new_id,
)
from shared.streams import RedisStreamPublisher
from shared.streams.registry import ENGINEERING_QUEUE, TASK_PROGRESS, WORKER_COMMANDS
from shared.testing.waiting import eventually
from telegram_bot.domain import conversation as texts

pytestmark = MODULE_LOOP


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def local(
    module_api: LiveApi, module_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[LocalStack]:
    logs = tmp_path_factory.mktemp("local-bot")
    async with local_bot_stack(module_api, module_redis_url, logs) as ready:
        yield ready


@pytest.fixture(autouse=True)
def echoing_po(local: LocalStack) -> None:
    local.po.reply = echo


def texts_of(outputs: list[LocalChatOutput]) -> list[str]:
    return [output.text for output in outputs]


async def test_the_bot_runs_without_a_token_or_telegram(local: LocalStack) -> None:
    env = process_env(local.settings)

    assert env["MODE"] == "local"
    assert "BOT_TOKEN" not in env
    assert local.bot.exit_code is None


async def test_a_message_gets_the_pos_answer_in_the_chats_outbox(local: LocalStack) -> None:
    alice, alice_id = await local.user()

    sent_id = await local.say(alice, "hello")
    [answer] = await local.wait_said(alice, lambda said: said or None)

    assert (answer.op, answer.chat_id, answer.text) == (LocalChatOp.SEND, alice, "echo: hello")
    assert answer.message_id > sent_id  # both from the chat's counter: no id is used twice
    assert [(m.user_id, m.prompt) for m in local.po.inputs if m.user_id == alice_id] == [
        (alice_id, "hello")
    ]

    second_id = await local.say(alice, "and again")
    said = await local.wait_said(alice, lambda said: said if len(said) >= 2 else None)

    assert texts_of(said) == ["echo: hello", "echo: and again"]
    assert second_id > answer.message_id
    assert said[1].message_id > second_id


async def test_a_quick_command_is_answered_in_the_outbox(local: LocalStack) -> None:
    alice, alice_id = await local.user()
    await local.api.project(alice_id, "todo-api", description="Keeps todos")

    await local.say(alice, "/projects")
    [answer] = await local.wait_said(alice, lambda said: said or None)

    assert answer.op is LocalChatOp.SEND
    assert "todo-api: draft - Keeps todos" in answer.text


async def test_an_unknown_telegram_id_is_refused_in_the_outbox(local: LocalStack) -> None:
    commands_before = await local.redis.xlen(WORKER_COMMANDS.pattern)
    stranger = local.new_user_id()

    await local.say(stranger, "hello")
    await local.say(stranger, "/projects")

    async def refused_twice() -> bool:
        lines = local.bot.logs().splitlines()
        return sum("an unknown user was refused" in x and str(stranger) in x for x in lines) >= 2

    await eventually(refused_twice)
    assert texts_of(await local.said(stranger)) == [texts.REFUSED]
    assert await local.redis.xlen(WORKER_COMMANDS.pattern) == commands_before


async def test_a_tasks_progress_is_a_message_then_its_edits(local: LocalStack) -> None:
    alice, alice_id = await local.user()
    project = await local.api.project(alice_id, "notes")
    publish = RedisStreamPublisher(local.redis).publish
    task_id = new_id()
    progress = TASK_PROGRESS.name(task_id=task_id)

    intent = EngineeringMessage(task_id=task_id, project_id=project["id"], user_id=alice_id)
    await publish(ENGINEERING_QUEUE.pattern, intent)
    [status] = await local.wait_said(alice, lambda said: said or None)
    assert (status.op, status.text) == (LocalChatOp.SEND, "Building notes\nQueued")

    event = ProgressEvent(type=ProgressType.PROGRESS, task_id=task_id, current_step="a1.develop",
                          message="Developing", progress_pct=40)  # fmt: skip
    await publish(progress, event)
    await publish(progress, EngineeringResult(task_id=task_id, status=OutcomeStatus.SUCCESS))

    def ended(said: list[LocalChatOutput]) -> list[LocalChatOutput] | None:
        return said if said[-1].text.endswith("Done.") else None

    said = await local.wait_said(alice, ended)
    assert said[0] == status
    assert all(
        (m.op, m.message_id, m.chat_id) == (LocalChatOp.EDIT, status.message_id, alice)
        for m in said[1:]
    )
    assert said[-1].text == "Building notes\nDone."
