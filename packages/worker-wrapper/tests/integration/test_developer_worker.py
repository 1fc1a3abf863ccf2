"""A developer worker end to end: the real wrapper process, real Redis, a real agent process."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from shared.contracts import DeveloperWorkerInput, DeveloperWorkerOutput
from shared.streams.wire import encode
from shared.testing.git import bare_repo, branch_head, file_at
from shared.testing.servers import RedisServer
from shared.testing.waiting import eventually
from wrapper_testing import (
    Wrapper,
    lifecycle,
    process_alive,
    read_stream,
    scripted_agent_script,
    wait_for,
    wait_for_file,
    wait_for_log,
    wrapper_env,
)

INPUT = "worker:developer:dev-1:input"  # the worker's own: WORKER_ID is dev-1
OUTPUT = "worker:developer:output"
HEARTBEAT = "worker:heartbeat:dev-1"
StartWrapper = Callable[[dict[str, str]], Wrapper]


async def publish_task(
    redis: Redis, repo: Path, stream: str = INPUT, **fields: object
) -> DeveloperWorkerInput:
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
    await redis.xadd(stream, encode(task))  # type: ignore[arg-type]
    return task


async def run_one_task(
    start_wrapper: StartWrapper, redis_url: str, redis: Redis, tmp_path: Path, **env: str
) -> tuple[dict[str, Any], int]:
    """Start a developer worker on the published task; its output and exit code."""
    wrapper = start_wrapper(wrapper_env(redis_url, tmp_path / "ws", **env))
    [raw] = await wait_for(redis, OUTPUT, 1, wrapper=wrapper)
    return raw, await wrapper.exited()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return bare_repo(tmp_path)


async def test_a_task_is_done_committed_pushed_and_reported_with_the_sha_read_from_git(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    task = await publish_task(redis_client, repo)
    wrapper = start_wrapper(wrapper_env(redis_url, tmp_path / "ws", MOCK_COMMIT="1"))

    [raw] = await wait_for(redis_client, OUTPUT, 1, wrapper=wrapper)
    code = await wrapper.exited()

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
    events = await lifecycle(redis_client)
    assert [e.event for e in events] == ["started", "completed"]
    assert events[1].result == {"status": "success", "commit_sha": output.commit_sha}


async def test_success_without_a_commit_is_not_believed(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    await publish_task(redis_client, repo)
    raw, code = await run_one_task(start_wrapper, redis_url, redis_client, tmp_path)
    assert code == 1
    assert raw["status"] == "failed"
    assert raw["error"] == "the agent reported success but made no commit"
    assert branch_head(repo, "feature/t-1") is None


async def test_a_crashing_agent_gives_an_error_with_the_tail_of_its_stderr(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    await publish_task(redis_client, repo)
    raw, code = await run_one_task(
        start_wrapper, redis_url, redis_client, tmp_path, MOCK_AGENT_BEHAVIOUR="CRASH"
    )
    assert code == 1
    assert raw["status"] == "error"
    assert raw["exit_code"] == 3
    assert "something exploded" in raw["error"]
    events = await lifecycle(redis_client)
    assert [e.event for e in events] == ["started", "failed"]
    assert events[1].task_id == "t-1"


async def test_garbage_output_is_an_error_not_a_crash_of_the_wrapper(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    await publish_task(redis_client, repo)
    raw, code = await run_one_task(
        start_wrapper, redis_url, redis_client, tmp_path, MOCK_AGENT_BEHAVIOUR="GARBAGE"
    )
    assert code == 1
    assert raw["status"] == "error"
    assert "this is not json" in raw["error"]


async def test_a_timeout_kills_the_agent_and_its_children(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    pid_file = tmp_path / "pids"
    await publish_task(redis_client, repo, timeout=2)
    wrapper = start_wrapper(
        wrapper_env(
            redis_url, tmp_path / "ws", MOCK_AGENT_BEHAVIOUR="SLEEP", MOCK_PID_FILE=str(pid_file)
        )
    )
    [raw] = await wait_for(redis_client, OUTPUT, 1, wrapper=wrapper)
    assert await wrapper.exited() == 1
    assert raw["status"] == "timeout"
    assert raw["error"] == "the agent timed out after 2s"
    agent_pid, child_pid = map(int, pid_file.read_text().split())
    assert not process_alive(agent_pid)
    assert not process_alive(child_pid)


async def test_sigterm_mid_task_stops_the_agent_and_reports_stopped(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    pid_file = tmp_path / "pids"
    await publish_task(redis_client, repo, timeout=600)
    wrapper = start_wrapper(
        wrapper_env(
            redis_url, tmp_path / "ws", MOCK_AGENT_BEHAVIOUR="SLEEP", MOCK_PID_FILE=str(pid_file)
        )
    )
    await wait_for_file(pid_file, wrapper=wrapper)

    wrapper.process.send_signal(signal.SIGTERM)

    assert await wrapper.exited(30) == 143
    [raw] = await read_stream(redis_client, OUTPUT)
    assert raw["status"] == "failed"
    assert raw["error"].startswith("stopped")
    events = await lifecycle(redis_client)
    assert [e.event for e in events] == ["started", "stopped"]
    assert events[-1].exit_code == 143
    assert not any(process_alive(int(p)) for p in pid_file.read_text().split())


async def test_an_answer_without_a_verdict_gets_one_more_turn_in_the_same_session(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    await publish_task(redis_client, repo)
    raw, code = await run_one_task(
        start_wrapper,
        redis_url,
        redis_client,
        tmp_path,
        MOCK_AGENT_BEHAVIOUR="NOVERDICT",
        MOCK_COMMIT="1",
    )
    assert code == 0
    assert raw["status"] == "success"
    assert raw["usage"]["input_tokens"] == 20  # both turns counted


async def test_an_agent_that_never_gives_a_verdict_fails_after_being_asked_once(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    await publish_task(redis_client, repo)
    raw, code = await run_one_task(
        start_wrapper, redis_url, redis_client, tmp_path, MOCK_AGENT_BEHAVIOUR="NEVERVERDICT"
    )
    assert code == 1
    assert raw["status"] == "failed"
    assert raw["error"] == "the agent gave no <result> verdict"


async def test_a_verdict_that_is_not_json_fails_the_task(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    await publish_task(redis_client, repo)
    raw, code = await run_one_task(
        start_wrapper, redis_url, redis_client, tmp_path, MOCK_AGENT_BEHAVIOUR="BADVERDICT"
    )
    assert code == 1
    assert raw["status"] == "failed"
    assert raw["error"].startswith("could not parse agent verdict")


async def test_the_scripted_agent_does_its_declared_work(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    script = scripted_agent_script(
        tmp_path,
        {"write": {"path": "app.py", "content": "print('hi')\n"}},
        {"run": "git add app.py && git commit -qm 'add app'"},
    )
    await publish_task(redis_client, repo)
    raw, code = await run_one_task(
        start_wrapper,
        redis_url,
        redis_client,
        tmp_path,
        AGENT_TYPE="scripted",
        SCRIPTED_AGENT_SCRIPT=str(script),
    )
    assert code == 0
    assert raw["status"] == "success"
    assert raw["commit_sha"] == branch_head(repo, "feature/t-1")
    assert file_at(repo, "feature/t-1", "app.py") == "print('hi')"


async def test_an_invalid_input_is_dead_lettered_and_the_worker_takes_the_next_valid_one(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    await redis_client.xadd(INPUT, {"data": json.dumps({"task_id": "broken"})})
    await publish_task(redis_client, repo)
    raw, code = await run_one_task(
        start_wrapper, redis_url, redis_client, tmp_path, MOCK_COMMIT="1"
    )
    assert code == 0
    assert raw["status"] == "success"
    [letter] = await read_stream(redis_client, f"{INPUT}:dlq")
    assert letter["reason"] == "invalid"


async def test_a_run_sent_to_one_worker_is_never_taken_by_another(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    # Two developer workers, both reading (each has made its group on its own stream).
    mine = start_wrapper(wrapper_env(redis_url, tmp_path / "ws-1", MOCK_COMMIT="1"))
    theirs = start_wrapper(
        wrapper_env(redis_url, tmp_path / "ws-2", WORKER_ID="dev-2", MOCK_COMMIT="1")
    )
    other_input = "worker:developer:dev-2:input"

    async def reading() -> bool:
        for stream in (INPUT, other_input):
            if not await redis_client.exists(stream) or not await redis_client.xinfo_groups(stream):
                return False
        return True

    await eventually(reading, within=30)

    their_task = await publish_task(
        redis_client, repo, other_input, task_id="t-2", branch="feature/t-2"
    )
    [first] = await wait_for(redis_client, OUTPUT, 1, wrapper=theirs)
    assert await theirs.exited() == 0
    assert (first["worker_id"], first["request_id"]) == ("dev-2", their_task.request_id)
    assert mine.exit_code is None  # still waiting for a run of its own
    assert (await redis_client.xpending(INPUT, "developer-workers"))["pending"] == 0

    my_task = await publish_task(redis_client, repo)
    outputs = await wait_for(redis_client, OUTPUT, 2, wrapper=mine)
    assert await mine.exited() == 0
    assert (outputs[1]["worker_id"], outputs[1]["request_id"]) == ("dev-1", my_task.request_id)
    assert branch_head(repo, "feature/t-1") == outputs[1]["commit_sha"]
    assert branch_head(repo, "feature/t-2") == first["commit_sha"]


async def test_the_heartbeat_is_refreshed_while_the_agent_works(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    pid_file = tmp_path / "pids"
    await publish_task(redis_client, repo, timeout=600)
    wrapper = start_wrapper(
        wrapper_env(
            redis_url, tmp_path / "ws", MOCK_AGENT_BEHAVIOUR="SLEEP", MOCK_PID_FILE=str(pid_file)
        )
    )
    await wait_for_file(pid_file, wrapper=wrapper)
    # Going busy writes the key once; every further value while busy is a refresh by the loop.
    busy_beats: set[float] = set()

    async def refreshed_twice() -> bool:
        async with redis_client.pipeline(transaction=True) as pipe:
            pipe.get(HEARTBEAT)
            pipe.ttl(HEARTBEAT)
            beat, ttl = await pipe.execute()
        if beat is not None:
            assert 0 <= ttl <= 3, f"the heartbeat key must expire on its own (ttl {ttl})"
            value = json.loads(beat)
            if value["state"] == "busy":
                assert value["task_id"] == "t-1"
                busy_beats.add(value["at"])
        return len(busy_beats) >= 3

    try:
        await eventually(refreshed_twice, within=30, interval=0.02)
    except AssertionError:
        raise AssertionError(
            f"busy heartbeats seen: {sorted(busy_beats)}; {wrapper.describe()}"
        ) from None
    assert process_alive(int(pid_file.read_text().split()[0]))  # all of it while the agent ran


@pytest.mark.redis_restart
async def test_a_result_is_not_lost_when_redis_is_down_as_it_is_published(
    start_wrapper: StartWrapper,
    redis_url: str,
    redis_client: Redis,
    tmp_path: Path,
    repo: Path,
    restartable_redis: RedisServer,
) -> None:
    running, go = tmp_path / "running", tmp_path / "go"
    await publish_task(redis_client, repo)
    wrapper = start_wrapper(
        wrapper_env(
            redis_url,
            tmp_path / "ws",
            MOCK_AGENT_BEHAVIOUR="WAIT",
            MOCK_COMMIT="1",
            MOCK_PID_FILE=str(running),
            MOCK_GO_FILE=str(go),
        )
    )
    await wait_for_file(running, wrapper=wrapper)  # the task is taken and its agent is working

    restartable_redis.stop()
    go.touch()
    await wait_for_log(wrapper, "redis unavailable, retrying publish", stream=OUTPUT)
    restartable_redis.start()

    [raw] = await wait_for(redis_client, OUTPUT, 1, wrapper=wrapper)
    assert await wrapper.exited() == 0
    assert raw["status"] == "success"
    assert raw["commit_sha"] == branch_head(repo, "feature/t-1")
    assert [e.event for e in await lifecycle(redis_client)] == ["started", "completed"]
