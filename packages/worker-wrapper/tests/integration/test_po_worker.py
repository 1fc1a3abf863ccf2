"""A PO worker: a loop over its own input stream, one answer per message, one session."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from redis.asyncio import Redis
from shared.contracts import POWorkerInput, POWorkerOutput
from shared.streams.wire import encode
from wrapper_testing import Wrapper, lifecycle, wait_for, wrapper_env

StartWrapper = Callable[[dict[str, str]], Wrapper]
OUTPUT = "worker:po:po-1:output"


async def say(redis: Redis, text: str) -> POWorkerInput:
    message = POWorkerInput(user_id="u-1", prompt=text)
    await redis.xadd("worker:po:po-1:input", encode(message))  # type: ignore[arg-type]
    return message


async def test_each_message_gets_one_answer_and_the_session_continues(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    env = wrapper_env(
        redis_url,
        tmp_path / "ws",
        WORKER_ID="po-1",
        WORKER_TYPE="po",
        INSTRUCTIONS="You are the product owner.",
    )
    wrapper = start_wrapper(env)
    first = await say(redis_client, "I want a todo API")
    await wait_for(redis_client, OUTPUT, 1, wrapper=wrapper)
    second = await say(redis_client, "with tags please")
    answers = [
        POWorkerOutput.model_validate(a)
        for a in await wait_for(redis_client, OUTPUT, 2, wrapper=wrapper)
    ]
    code = wrapper.stop()

    assert [a.request_id for a in answers] == [first.request_id, second.request_id]
    assert answers[0].text == "turn 1: I want a todo API"  # the verdict block is not for users
    assert answers[1].text == "turn 2: with tags please"  # same session: its second turn
    assert all(a.user_id == "u-1" and a.is_final for a in answers)
    assert (tmp_path / "ws" / "po" / "CLAUDE.md").read_text() == "You are the product owner."
    assert code == 143
    assert [e.event for e in await lifecycle(redis_client)] == ["started", "stopped"]


async def test_a_crashing_agent_gets_the_user_an_apology_not_silence(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    env = wrapper_env(
        redis_url, tmp_path / "ws", WORKER_ID="po-1", WORKER_TYPE="po", MOCK_AGENT_BEHAVIOUR="CRASH"
    )
    wrapper = start_wrapper(env)
    await say(redis_client, "hello?")
    [answer] = await wait_for(redis_client, OUTPUT, 1, wrapper=wrapper)
    assert answer["text"] == "Sorry, something went wrong on my side. Please try again."
