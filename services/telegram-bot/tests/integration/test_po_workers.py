"""The bot with the real worker-manager (process backend) and its PO workers running the
scripted agent: a first message makes the user's worker and gets its answer, the next goes to
the same worker, and a worker killed mid-message is apologised for and replaced by one that
continues the same conversation."""

from __future__ import annotations

import asyncio
import functools
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import cast

import pytest
import pytest_asyncio
from api.testing import LiveApi
from bot_testing import (
    MODULE_LOOP,
    ManagerProcess,
    Stack,
    bot_stack,
    kill_workers,
    manager_settings,
    worker_ids,
)
from redis.asyncio import Redis
from shared.keys import PO_SESSION
from shared.streams.registry import WORKER_COMMANDS
from shared.testing.fake_telegram import SentMessage
from shared.testing.waiting import eventually
from telegram_bot.domain import conversation as texts

pytestmark = MODULE_LOOP


def po_script(workdir: Path) -> Path:
    """Each session's turns, in order; the third sleeps (to be killed) the first time any
    session plays it, counted in a file outside the workers."""
    count = workdir / "third-turns"
    third = (
        f"n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}; "
        f'if [ "$n" = 1 ]; then sleep 600; fi'
    )
    turns = [
        {"reply": "Hello, I am your Product Owner (turn 1)."},
        {"reply": "Noted (turn 2)."},
        {"steps": [{"run": third}], "reply": "Still here (turn 3)."},
    ]
    script = workdir / "po.json"
    script.write_text(json.dumps({"turns": turns}))
    return script


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def po_stack(
    module_api: LiveApi, module_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """The bot and worker-manager; every worker left is killed at the end."""
    workdir = Path(tmp_path_factory.mktemp("po"))
    manager = ManagerProcess(
        manager_settings(
            module_redis_url, workdir / "workers",
            api_url=module_api.url, api_key=module_api.service_key,
        ),
        po_script(workdir),
        workdir / "worker-manager.log",
    )  # fmt: skip
    try:
        async with bot_stack(module_api, module_redis_url, workdir, fake_po=False) as stack:
            stack.workdir = workdir
            try:
                yield stack
            finally:
                kill_workers(await worker_ids(stack.redis))
    finally:
        await asyncio.to_thread(manager.stop)


async def session_of(redis: Redis, user_id: str) -> dict[str, str]:
    return cast(dict[str, str], await redis.hgetall(PO_SESSION.name(user_id=user_id)))


async def creates_for(redis: Redis, user_id: str) -> int:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(WORKER_COMMANDS.pattern))
    commands = [json.loads(fields["data"]) for _, fields in entries]
    return len(
        [c for c in commands if c["command"] == "create" and c["context"]["user_id"] == user_id]
    )


async def test_a_first_message_makes_the_users_po_worker_and_the_next_reuses_it(
    po_stack: Stack,
) -> None:
    stack = po_stack
    alice, alice_id = await stack.user()

    stack.telegram.send_text(alice, "hi")
    first = await stack.telegram.wait_for_message(alice, within=60)
    worker = (await session_of(stack.redis, alice_id))["worker_id"]
    stack.telegram.send_text(alice, "I want a todo API")
    second = await stack.telegram.wait_for_message(alice, lambda m: "turn 2" in m.text)

    assert first.text == "Hello, I am your Product Owner (turn 1)."
    assert second.text == "Noted (turn 2)."
    assert (await session_of(stack.redis, alice_id))["worker_id"] == worker
    assert await creates_for(stack.redis, alice_id) == 1


async def test_a_worker_killed_mid_message_is_replaced_in_the_same_conversation(
    po_stack: Stack,
) -> None:
    stack = po_stack
    alice, alice_id = await stack.user()
    for text, turn in [("one", "turn 1"), ("two", "turn 2")]:
        stack.telegram.send_text(alice, text)
        await stack.telegram.wait_for_message(alice, functools.partial(_says, turn))
    killed = (await session_of(stack.redis, alice_id))["worker_id"]

    stack.telegram.send_text(alice, "three")
    await eventually(lambda: _third_turn_started(stack.workdir / "third-turns"), within=60)
    kill_workers([killed])
    answer = await stack.telegram.wait_for_message(alice, lambda m: "turn 3" in m.text)

    said = [m.text for m in stack.telegram.sent(alice)]
    assert said[2:] == [texts.WORKER_DIED, "Still here (turn 3)."]
    assert answer.text == "Still here (turn 3)."  # the third turn of the same agent session
    replacement = (await session_of(stack.redis, alice_id))["worker_id"]
    assert replacement != killed
    assert await creates_for(stack.redis, alice_id) == 2


async def _third_turn_started(count: Path) -> bool:
    return await asyncio.to_thread(lambda: count.exists() and count.read_text().strip() == "1")


def _says(text: str, message: SentMessage) -> bool:
    return text in message.text
