"""A PO worker: a loop over its own input stream, one answer per message, one session."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import cast

from redis.asyncio import Redis
from shared.contracts import POWorkerInput, POWorkerOutput
from shared.streams.wire import encode
from wrapper_testing import (
    Wrapper,
    lifecycle,
    wait_for,
    wait_for_file,
    wait_for_log,
    wrapper_env,
)

StartWrapper = Callable[[dict[str, str]], Wrapper]
OUTPUT = "worker:po:po-1:output"


async def say(redis: Redis, text: str, worker_id: str = "po-1") -> POWorkerInput:
    message = POWorkerInput(user_id="u-1", prompt=text)
    await redis.xadd(f"worker:po:{worker_id}:input", encode(message))  # type: ignore[arg-type]
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


def two_turn_script(root: Path) -> Path:
    """A scripted agent whose turns say which they are: a session's second turn says "two"."""
    path = root / "script.json"
    path.write_text(json.dumps({"turns": [{"reply": "turn one"}, {"reply": "turn two"}]}))
    return path


async def test_a_new_worker_created_with_the_session_of_a_gone_one_continues_it(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    # worker-manager gives every PO worker of a user the same workspace: the agent's home.
    home, script = tmp_path / "user-home", two_turn_script(tmp_path)
    scripted = {"AGENT_TYPE": "scripted", "SCRIPTED_AGENT_SCRIPT": str(script), "WORKER_TYPE": "po"}
    first = start_wrapper(wrapper_env(redis_url, home, WORKER_ID="po-1", **scripted))
    await say(redis_client, "I want a todo API")
    [raw] = await wait_for(redis_client, OUTPUT, 1, wrapper=first)
    before = POWorkerOutput.model_validate(raw)
    assert (before.text, before.is_final) == ("turn one", True)
    assert before.session_id
    assert first.stop() == 143

    second = start_wrapper(
        wrapper_env(redis_url, home, WORKER_ID="po-2", SESSION_ID=before.session_id, **scripted)
    )
    await say(redis_client, "with tags please", worker_id="po-2")
    [raw] = await wait_for(redis_client, "worker:po:po-2:output", 1, wrapper=second)
    after = POWorkerOutput.model_validate(raw)

    assert after.text == "turn two"  # the same session's second turn
    assert after.session_id == before.session_id
    fresh = start_wrapper(wrapper_env(redis_url, home, WORKER_ID="po-3", **scripted))
    await say(redis_client, "hello", worker_id="po-3")
    [raw] = await wait_for(redis_client, "worker:po:po-3:output", 1, wrapper=fresh)
    assert raw["text"] == "turn one"  # no session named: a new conversation
    assert raw["session_id"] != before.session_id


async def test_a_session_the_home_does_not_hold_is_not_resumed_a_new_one_starts(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    env = wrapper_env(
        redis_url,
        tmp_path / "ws",
        WORKER_ID="po-1",
        WORKER_TYPE="po",
        AGENT_TYPE="scripted",
        SCRIPTED_AGENT_SCRIPT=str(two_turn_script(tmp_path)),
        SESSION_ID="s-from-another-home",
    )
    wrapper = start_wrapper(env)
    await say(redis_client, "hello")
    [raw] = await wait_for(redis_client, OUTPUT, 1, wrapper=wrapper)
    assert raw["text"] == "turn one"
    assert raw["session_id"] not in (None, "s-from-another-home")


async def test_what_the_agent_sent_with_respond_is_not_repeated_by_the_final_answer(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    script = tmp_path / "script.json"
    turn = {
        "steps": [{"run": "orchestrator respond --message 'Building your todo API now.'"}],
        "reply": "Building your todo API now.\n",
    }
    script.write_text(json.dumps({"turns": [turn]}))
    env = wrapper_env(
        redis_url,
        tmp_path / "ws",
        WORKER_ID="po-1",
        WORKER_TYPE="po",
        AGENT_TYPE="scripted",
        SCRIPTED_AGENT_SCRIPT=str(script),
        ALLOWED_COMMANDS="PRODUCT_OWNER",
    )
    wrapper = start_wrapper(env)
    message = await say(redis_client, "build it")
    interim, final = [
        POWorkerOutput.model_validate(a)
        for a in await wait_for(redis_client, OUTPUT, 2, wrapper=wrapper)
    ]

    assert (interim.text, interim.is_final) == ("Building your todo API now.", False)
    assert interim.request_id.startswith(f"{message.request_id}:respond:")
    assert interim.correlation_id == message.correlation_id
    assert (final.text, final.is_final, final.request_id) == ("", True, message.request_id)
    assert final.session_id


async def test_two_workers_of_one_user_take_turns_in_the_home_they_share(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    home, go = tmp_path / "user-home", tmp_path / "go"
    holding = start_wrapper(
        wrapper_env(
            redis_url,
            home,
            WORKER_ID="po-1",
            WORKER_TYPE="po",
            MOCK_AGENT_BEHAVIOUR="WAIT",
            MOCK_PID_FILE=str(tmp_path / "agent.pid"),
            MOCK_GO_FILE=str(go),
        )
    )
    waiting = start_wrapper(wrapper_env(redis_url, home, WORKER_ID="po-2", WORKER_TYPE="po"))
    await say(redis_client, "first")
    await wait_for_file(tmp_path / "agent.pid", wrapper=holding)  # its agent's turn runs
    await say(redis_client, "second", worker_id="po-2")
    await wait_for_log(waiting, "another turn holds the agent's home: waiting for it")

    go.touch()
    [first_id] = await _entry_ids(redis_client, OUTPUT, holding)
    [second_id] = await _entry_ids(redis_client, "worker:po:po-2:output", waiting)

    # The second worker's agent (which answers at once) started only once the first's ended.
    assert _as_tuple(second_id) > _as_tuple(first_id)


async def _entry_ids(redis: Redis, stream: str, wrapper: Wrapper) -> list[str]:
    await wait_for(redis, stream, 1, wrapper=wrapper)
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(stream))
    return [entry_id for entry_id, _ in entries]


def _as_tuple(entry_id: str) -> tuple[int, int]:
    millis, sequence = entry_id.split("-")
    return int(millis), int(sequence)
