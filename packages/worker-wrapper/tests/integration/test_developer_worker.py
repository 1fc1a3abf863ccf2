"""A developer worker end to end: the real wrapper process, real Redis, a real agent process."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import redis
from shared.contracts import DeveloperWorkerInput, DeveloperWorkerOutput
from shared.streams.wire import encode
from shared.testing.servers import RedisServer
from wrapper_testing import (
    branch_head,
    lifecycle,
    make_bare_repo,
    process_alive,
    read_stream,
    scripted_agent_script,
    start_wrapper,
    wait_for,
    wait_for_file,
    wrapper_env,
)

OUTPUT = "worker:developer:output"


def publish_task(redis_url: str, repo: Path, **fields: object) -> DeveloperWorkerInput:
    task = DeveloperWorkerInput.model_validate(
        {
            "task_id": "t-1",
            "project_id": "p-1",
            "prompt": "add a file",
            "repo_url": str(repo),
            "branch": "feature/t-1",
            "timeout": 30,
            **fields,
        }
    )
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        client.xadd("worker:developer:input", encode(task))
    return task


def run_one_task(redis_url: str, tmp_path: Path, **env: str) -> tuple[dict[str, Any], int]:
    """Start a developer worker on the published task; its output and exit code."""
    process = start_wrapper(wrapper_env(redis_url, tmp_path / "ws", **env))
    [raw] = wait_for(redis_url, OUTPUT, 1)
    return raw, finish(process)


def finish(process: subprocess.Popen[str], timeout: float = 60) -> int:
    try:
        return process.wait(timeout)
    finally:
        if process.poll() is None:
            process.kill()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_bare_repo(tmp_path)


def test_a_task_is_done_committed_pushed_and_reported_with_the_sha_read_from_git(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    task = publish_task(redis_url, repo)
    process = start_wrapper(wrapper_env(redis_url, tmp_path / "ws", MOCK_COMMIT="1"))

    [raw] = wait_for(redis_url, OUTPUT, 1)
    code = finish(process)

    output = DeveloperWorkerOutput.model_validate(raw)
    assert code == 0, (raw["status"], raw["error"])
    assert output.status == "success"
    assert output.request_id == task.request_id
    assert output.correlation_id == task.correlation_id
    assert output.commit_sha == branch_head(repo, "feature/t-1")
    assert output.commit_sha != branch_head(repo, "main")
    assert output.verdict is not None
    assert output.verdict.summary == "did it"
    assert output.usage is not None
    assert (output.usage.input_tokens, output.usage.cost_usd) == (10, 0.01)
    assert [e.event for e in lifecycle(redis_url)] == ["started", "completed"]
    assert lifecycle(redis_url)[1].result == {"status": "success", "commit_sha": output.commit_sha}


def test_success_without_a_commit_is_not_believed(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    publish_task(redis_url, repo)
    raw, code = run_one_task(redis_url, tmp_path)
    assert code == 1
    assert raw["status"] == "failed"
    assert raw["error"] == "the agent reported success but made no commit"
    assert branch_head(repo, "feature/t-1") is None


def test_a_crashing_agent_gives_an_error_with_the_tail_of_its_stderr(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    publish_task(redis_url, repo)
    raw, code = run_one_task(redis_url, tmp_path, MOCK_AGENT_BEHAVIOUR="CRASH")
    assert code == 1
    assert raw["status"] == "error"
    assert raw["exit_code"] == 3
    assert "something exploded" in raw["error"]
    events = lifecycle(redis_url)
    assert [e.event for e in events] == ["started", "failed"]
    assert events[1].task_id == "t-1"


def test_garbage_output_is_an_error_not_a_crash_of_the_wrapper(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    publish_task(redis_url, repo)
    raw, code = run_one_task(redis_url, tmp_path, MOCK_AGENT_BEHAVIOUR="GARBAGE")
    assert code == 1
    assert raw["status"] == "error"
    assert "this is not json" in raw["error"]


def test_a_timeout_kills_the_agent_and_its_children(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    pid_file = tmp_path / "pids"
    publish_task(redis_url, repo, timeout=2)
    process = start_wrapper(
        wrapper_env(
            redis_url, tmp_path / "ws", MOCK_AGENT_BEHAVIOUR="SLEEP", MOCK_PID_FILE=str(pid_file)
        )
    )
    [raw] = wait_for(redis_url, OUTPUT, 1)
    assert finish(process) == 1
    assert raw["status"] == "timeout"
    assert raw["error"] == "the agent timed out after 2s"
    agent_pid, child_pid = map(int, pid_file.read_text().split())
    assert not process_alive(agent_pid)
    assert not process_alive(child_pid)


def test_sigterm_mid_task_stops_the_agent_and_reports_stopped(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    pid_file = tmp_path / "pids"
    publish_task(redis_url, repo, timeout=600)
    process = start_wrapper(
        wrapper_env(
            redis_url, tmp_path / "ws", MOCK_AGENT_BEHAVIOUR="SLEEP", MOCK_PID_FILE=str(pid_file)
        )
    )
    wait_for_file(pid_file)

    process.send_signal(signal.SIGTERM)

    assert finish(process, 30) == 143
    [raw] = read_stream(redis_url, OUTPUT)
    assert raw["status"] == "failed"
    assert raw["error"].startswith("stopped")
    events = lifecycle(redis_url)
    assert [e.event for e in events] == ["started", "stopped"]
    assert events[-1].exit_code == 143
    assert not any(process_alive(int(p)) for p in pid_file.read_text().split())


def test_an_answer_without_a_verdict_gets_one_more_turn_in_the_same_session(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    publish_task(redis_url, repo)
    env = wrapper_env(redis_url, tmp_path / "ws", MOCK_AGENT_BEHAVIOUR="NOVERDICT", MOCK_COMMIT="1")
    process = start_wrapper(env)
    [raw] = wait_for(redis_url, OUTPUT, 1)
    assert finish(process) == 0
    assert raw["status"] == "success"
    assert raw["usage"]["input_tokens"] == 20  # both turns counted


def test_an_agent_that_never_gives_a_verdict_fails_after_being_asked_once(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    publish_task(redis_url, repo)
    raw, code = run_one_task(redis_url, tmp_path, MOCK_AGENT_BEHAVIOUR="NEVERVERDICT")
    assert code == 1
    assert raw["status"] == "failed"
    assert raw["error"] == "the agent gave no <result> verdict"


def test_a_verdict_that_is_not_json_fails_the_task(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    publish_task(redis_url, repo)
    process = start_wrapper(
        wrapper_env(redis_url, tmp_path / "ws", MOCK_AGENT_BEHAVIOUR="BADVERDICT")
    )
    [raw] = wait_for(redis_url, OUTPUT, 1)
    finish(process)
    assert raw["status"] == "failed"
    assert raw["error"].startswith("could not parse agent verdict")


def test_the_scripted_agent_does_its_declared_work(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    script = scripted_agent_script(
        tmp_path,
        {"write": {"path": "app.py", "content": "print('hi')\n"}},
        {"run": "git add app.py && git commit -qm 'add app'"},
    )
    publish_task(redis_url, repo)
    process = start_wrapper(
        wrapper_env(
            redis_url, tmp_path / "ws", AGENT_TYPE="scripted", SCRIPTED_AGENT_SCRIPT=str(script)
        )
    )
    [raw] = wait_for(redis_url, OUTPUT, 1)
    assert finish(process) == 0
    assert raw["status"] == "success"
    assert raw["commit_sha"] == branch_head(repo, "feature/t-1")
    shown = subprocess.run(
        ["git", "-C", str(repo), "show", "feature/t-1:app.py"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout == "print('hi')\n"


def test_an_invalid_input_is_dead_lettered_and_the_worker_takes_the_next_valid_one(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        client.xadd("worker:developer:input", {"data": json.dumps({"task_id": "broken"})})
    publish_task(redis_url, repo)
    raw, code = run_one_task(redis_url, tmp_path, MOCK_COMMIT="1")
    assert code == 0
    assert raw["status"] == "success"
    [letter] = read_stream(redis_url, "worker:developer:input:dlq")
    assert letter["reason"] == "invalid"


def test_the_heartbeat_key_lives_while_the_worker_works(
    redis_url: str, tmp_path: Path, repo: Path
) -> None:
    pid_file = tmp_path / "pids"
    publish_task(redis_url, repo, timeout=600)
    process = start_wrapper(
        wrapper_env(
            redis_url, tmp_path / "ws", MOCK_AGENT_BEHAVIOUR="SLEEP", MOCK_PID_FILE=str(pid_file)
        )
    )
    try:
        wait_for_file(pid_file)
        time.sleep(1.5)
        with redis.Redis.from_url(redis_url, decode_responses=True) as client:
            beat = client.get("worker:heartbeat:dev-1")
            ttl = client.ttl("worker:heartbeat:dev-1")
        assert beat is not None
        assert json.loads(beat)["state"] == "busy"
        assert 0 < ttl <= 3
    finally:
        process.send_signal(signal.SIGTERM)
        finish(process, 30)


@pytest.mark.redis_restart
def test_a_result_is_not_lost_when_redis_restarts_during_the_task(
    redis_url: str, tmp_path: Path, repo: Path, restartable_redis: RedisServer
) -> None:
    script = scripted_agent_script(
        tmp_path,
        {"sleep": 3},
        {"run": "echo x > x.txt && git add x.txt && git commit -qm x"},
    )
    publish_task(redis_url, repo)
    process = start_wrapper(
        wrapper_env(
            redis_url, tmp_path / "ws", AGENT_TYPE="scripted", SCRIPTED_AGENT_SCRIPT=str(script)
        )
    )
    time.sleep(1.5)
    restartable_redis.stop()
    time.sleep(2.5)
    restartable_redis.start()
    [raw] = wait_for(redis_url, OUTPUT, 1)
    assert finish(process) == 0
    assert raw["status"] == "success"
