"""A PO worker: a loop over its own input stream, one answer per message, one session."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import redis
from shared.contracts import POWorkerInput, POWorkerOutput
from shared.streams.wire import encode
from wrapper_testing import lifecycle, start_wrapper, wait_for, wrapper_env


def say(redis_url: str, text: str) -> POWorkerInput:
    message = POWorkerInput(user_id="u-1", prompt=text)
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        client.xadd("worker:po:po-1:input", encode(message))
    return message


def test_each_message_gets_one_answer_and_the_session_continues(
    redis_url: str, tmp_path: Path
) -> None:
    env = wrapper_env(
        redis_url,
        tmp_path / "ws",
        WORKER_ID="po-1",
        WORKER_TYPE="po",
        INSTRUCTIONS="You are the product owner.",
    )
    process = start_wrapper(env)
    try:
        first = say(redis_url, "I want a todo API")
        wait_for(redis_url, "worker:po:po-1:output", 1)
        second = say(redis_url, "with tags please")
        answers = [
            POWorkerOutput.model_validate(a)
            for a in wait_for(redis_url, "worker:po:po-1:output", 2)
        ]
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(30)

    assert [a.request_id for a in answers] == [first.request_id, second.request_id]
    assert answers[0].text == "turn 1: I want a todo API"  # the verdict block is not for users
    assert answers[1].text == "turn 2: with tags please"  # same session: its second turn
    assert all(a.user_id == "u-1" and a.is_final for a in answers)
    assert (tmp_path / "ws" / "po" / "CLAUDE.md").read_text() == "You are the product owner."
    assert code == 143
    assert [e.event for e in lifecycle(redis_url)] == ["started", "stopped"]


def test_a_crashing_agent_gets_the_user_an_apology_not_silence(
    redis_url: str, tmp_path: Path
) -> None:
    env = wrapper_env(
        redis_url, tmp_path / "ws", WORKER_ID="po-1", WORKER_TYPE="po", MOCK_AGENT_BEHAVIOUR="CRASH"
    )
    process: subprocess.Popen[str] = start_wrapper(env)
    try:
        say(redis_url, "hello?")
        [answer] = wait_for(redis_url, "worker:po:po-1:output", 1)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert answer["text"] == "Sorry, something went wrong on my side. Please try again."
