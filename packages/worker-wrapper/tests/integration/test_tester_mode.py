"""A developer worker in test mode end to end: the real wrapper process, real Redis, a local bare
repository whose `.project.yml` declares the tests. The agent is a program that marks a file if
it is ever started: it never is."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from shared.contracts import DeveloperWorkerInput, DeveloperWorkerOutput, WorkMode
from shared.contracts.project_file import ProjectFile, ProjectService, render_project_file
from shared.streams.wire import encode
from shared.testing.git import commit, git, work_tree
from shared.testing.waiting import eventually
from wrapper_testing import (
    Wrapper,
    lifecycle,
    process_alive,
    read_stream,
    wait_for,
    wrapper_env,
)

INPUT = "worker:developer:dev-1:input"  # the worker's own: WORKER_ID is dev-1
OUTPUT = "worker:developer:output"
StartWrapper = Callable[[dict[str, str]], Wrapper]


def project_file(**services: ProjectService) -> str:
    return render_project_file(ProjectFile(services=services))


def service(test: str | None = None, directory: str = ".") -> ProjectService:
    return ProjectService(
        run="python -m http.server $PORT", health="/", test=test, directory=directory
    )


def project_repo(root: Path, *snapshots: dict[str, str]) -> tuple[Path, list[str]]:
    """`root/origin.git` with one commit per snapshot on `main`; the commits' shas."""
    seed = work_tree(root / "seed", snapshots[0])
    shas = [git(seed, "rev-parse", "HEAD")]
    shas += [commit(seed, files, f"change {n}") for n, files in enumerate(snapshots[1:], 2)]
    bare = root / "origin.git"
    git(seed, "clone", "-q", "--bare", str(seed), str(bare))
    return bare, shas


@pytest.fixture
def agent_mark(tmp_path: Path) -> Path:
    return tmp_path / "the-agent-ran"


@pytest.fixture
def env(redis_url: str, tmp_path: Path, agent_mark: Path) -> Callable[..., dict[str, str]]:
    """The wrapper's environment, its agent a program that marks a file and fails."""
    agent = tmp_path / "marking-agent"
    agent.write_text(f"#!/bin/sh\ntouch '{agent_mark}'\nexit 3\n")
    agent.chmod(0o755)

    def make(**overrides: str) -> dict[str, str]:
        return wrapper_env(redis_url, tmp_path / "ws", CLAUDE_BIN=str(agent), **overrides)

    return make


async def publish_test(
    redis: Redis, repo: Path, commit_sha: str, **fields: object
) -> DeveloperWorkerInput:
    task = DeveloperWorkerInput.model_validate(
        {
            "task_id": "t-1",
            "project_id": "p-1",
            "prompt": "test the commit",
            "repo_url": str(repo),
            "timeout": 60,
            "mode": WorkMode.TEST,
            "commit_sha": commit_sha,
            **fields,
        }
    )
    await redis.xadd(INPUT, encode(task))  # type: ignore[arg-type]
    return task


async def run_test_task(
    start_wrapper: StartWrapper, redis: Redis, env: dict[str, str], agent_mark: Path
) -> tuple[dict[str, Any], int]:
    """Start a developer worker on the published test task; its output and exit code."""
    wrapper = start_wrapper(env)
    [raw] = await wait_for(redis, OUTPUT, 1, wrapper=wrapper)
    code = await wrapper.exited()
    assert not await asyncio.to_thread(agent_mark.exists), "the agent was started in test mode"
    return raw, code


async def test_a_commit_whose_tests_pass_is_a_success_tested_at_that_very_commit(
    start_wrapper: StartWrapper,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    repo, [tested, later] = project_repo(
        tmp_path,
        {".project.yml": project_file(api=service("cat version.txt")), "version.txt": "one\n"},
        {"version.txt": "two\n"},
    )
    task = await publish_test(redis_client, repo, tested)

    raw, code = await run_test_task(start_wrapper, redis_client, env(), agent_mark)

    output = DeveloperWorkerOutput.model_validate(raw)
    assert code == 0, (output.status, output.error)
    assert (output.status, output.error, output.exit_code) == ("success", None, 0)
    assert output.commit_sha == tested != later
    assert output.output_tail == "[api] $ cat version.txt\none\n"
    assert (output.request_id, output.correlation_id, output.task_id, output.worker_id) == (
        task.request_id,
        task.correlation_id,
        "t-1",
        "dev-1",
    )
    assert output.duration_ms is not None
    events = await lifecycle(redis_client)
    assert [e.event for e in events] == ["started", "completed"]
    assert events[1].result == {"status": "success", "commit_sha": tested}
    assert await redis_client.xpending(INPUT, "developer-workers") == {
        "pending": 0,
        "min": None,
        "max": None,
        "consumers": [],
    }


async def test_a_failing_test_fails_with_the_command_its_exit_code_and_the_output_tail(
    start_wrapper: StartWrapper,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    command = "echo 'expected 1, got 2'; echo 'on stderr' >&2; exit 3"
    repo, [sha] = project_repo(tmp_path, {".project.yml": project_file(api=service(command))})
    await publish_test(redis_client, repo, sha)

    raw, code = await run_test_task(start_wrapper, redis_client, env(), agent_mark)

    assert code == 1
    assert (raw["status"], raw["exit_code"], raw["commit_sha"]) == ("failed", 3, sha)
    assert raw["output_tail"] == f"[api] $ {command}\nexpected 1, got 2\non stderr\n"
    assert raw["error"] == f"tests failed: api: `{command}` exited 3\n{raw['output_tail']}"
    events = await lifecycle(redis_client)
    assert [e.event for e in events] == ["started", "failed"]
    assert events[1].exit_code == 1


async def test_two_services_are_tested_in_order_each_in_its_directory_and_the_second_fails(
    start_wrapper: StartWrapper,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    files = {
        ".project.yml": project_file(
            first=service("echo first is fine"),
            untested=service(),
            second=service("pwd; echo second broke; exit 4", directory="svc"),
        ),
        "svc/README": "the second service\n",
    }
    repo, [sha] = project_repo(tmp_path, files)
    await publish_test(redis_client, repo, sha)

    raw, code = await run_test_task(start_wrapper, redis_client, env(), agent_mark)

    assert code == 1
    assert (raw["status"], raw["exit_code"]) == ("failed", 4)
    assert raw["error"].startswith(
        "tests failed: second: `pwd; echo second broke; exit 4` exited 4\n"
    )
    tail = raw["output_tail"]
    assert tail.startswith("[first] $ echo first is fine\nfirst is fine\n[second] $ pwd")
    assert tail.endswith("/ws/repo/svc\nsecond broke\n")


async def test_a_hanging_test_times_out_and_its_whole_process_group_is_killed(
    start_wrapper: StartWrapper,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    pids = tmp_path / "pids"
    command = f"echo $$ > {pids}; sleep 1000 & echo $! >> {pids}; echo started; wait"
    repo, [sha] = project_repo(tmp_path, {".project.yml": project_file(api=service(command))})
    await publish_test(redis_client, repo, sha, timeout=2)

    raw, code = await run_test_task(start_wrapper, redis_client, env(), agent_mark)

    assert code == 1
    assert (raw["status"], raw["commit_sha"]) == ("timeout", sha)
    assert raw["error"].startswith(f"tests timed out after 2s: api: `{command}` did not finish\n")
    assert raw["output_tail"].endswith("started\n")
    shell, sleeper = map(int, pids.read_text().split())
    assert not process_alive(shell)
    assert not process_alive(sleeper)


async def test_sigterm_during_the_tests_stops_them_and_reports_stopped(
    start_wrapper: StartWrapper,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    pids = tmp_path / "pids"
    command = f"sleep 1000 & echo $$ $! > {pids}.new; mv {pids}.new {pids}; wait"
    repo, [sha] = project_repo(tmp_path, {".project.yml": project_file(api=service(command))})
    await publish_test(redis_client, repo, sha, timeout=600)
    wrapper = start_wrapper(env())

    async def running() -> bool:
        return pids.exists()

    await eventually(running, within=30)
    wrapper.process.send_signal(signal.SIGTERM)

    assert await wrapper.exited(30) == 143
    [raw] = await read_stream(redis_client, OUTPUT)
    assert (raw["status"], raw["commit_sha"]) == ("failed", sha)
    assert raw["error"].startswith("stopped")
    events = await lifecycle(redis_client)
    assert [e.event for e in events] == ["started", "stopped"]
    assert not any(process_alive(int(pid)) for pid in pids.read_text().split())
    assert not await asyncio.to_thread(agent_mark.exists)


async def test_a_commit_without_a_project_file_is_an_error(
    start_wrapper: StartWrapper,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    repo, [sha] = project_repo(tmp_path, {"README.md": "# no project file\n"})
    await publish_test(redis_client, repo, sha)

    raw, code = await run_test_task(start_wrapper, redis_client, env(), agent_mark)

    assert code == 1
    assert (raw["status"], raw["error"], raw["commit_sha"]) == (
        "error",
        f"no .project.yml at commit {sha}",
        sha,
    )


async def test_an_invalid_project_file_is_an_error_with_the_parsers_message(
    start_wrapper: StartWrapper,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    repo, [sha] = project_repo(tmp_path, {".project.yml": "services:\n  api:\n    run: x\n"})
    await publish_test(redis_client, repo, sha)

    raw, code = await run_test_task(start_wrapper, redis_client, env(), agent_mark)

    assert code == 1
    assert (raw["status"], raw["error"]) == (
        "error",
        ".project.yml: services.api.health: Field required",
    )


async def test_a_commit_that_is_not_in_the_repository_is_an_error_naming_it(
    start_wrapper: StartWrapper,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    repo, _ = project_repo(tmp_path, {".project.yml": project_file(api=service("true"))})
    missing = "0123456789abcdef0123456789abcdef01234567"
    await publish_test(redis_client, repo, missing)

    raw, code = await run_test_task(start_wrapper, redis_client, env(), agent_mark)

    assert code == 1
    assert (raw["status"], raw["error"], raw["commit_sha"]) == (
        "error",
        f"commit {missing} is not in the repository",
        missing,
    )


async def test_a_project_that_declares_no_test_is_not_tested_and_fails(
    start_wrapper: StartWrapper,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    repo, [sha] = project_repo(tmp_path, {".project.yml": project_file(api=service())})
    await publish_test(redis_client, repo, sha)

    raw, code = await run_test_task(start_wrapper, redis_client, env(), agent_mark)

    assert code == 1
    assert (raw["status"], raw["error"], raw["output_tail"]) == (
        "failed",
        "no test command declared in .project.yml",
        None,
    )


async def test_a_test_command_sees_none_of_the_wrappers_settings(
    start_wrapper: StartWrapper,
    redis_url: str,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    seen = tmp_path / "seen-env"
    repo, [sha] = project_repo(
        tmp_path, {".project.yml": project_file(api=service(f"env > {seen}"))}
    )
    await publish_test(redis_client, repo, sha)
    secrets = {
        "GIT_TOKEN": "ghp_the_git_token_value",
        "API_KEY": "cgo_the_api_key_value",
        "SOMETHING_ELSE": "a_setting_of_the_wrapper",
    }

    raw, code = await run_test_task(
        start_wrapper, redis_client, env(LANG="C.UTF-8", **secrets), agent_mark
    )

    assert code == 0, raw["error"]
    variables = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    set_by_the_shell = {"PWD", "OLDPWD", "SHLVL", "_"}
    assert set(variables) - set_by_the_shell <= {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR"}
    assert variables["HOME"] == str(tmp_path / "ws" / "home")
    assert variables["LANG"] == "C.UTF-8"
    text = seen.read_text()
    for value in [*secrets.values(), redis_url, "dev-1"]:
        assert value not in text


async def test_a_chatty_test_publishes_only_the_tail_of_its_output(
    start_wrapper: StartWrapper,
    redis_client: Redis,
    tmp_path: Path,
    env: Callable[..., dict[str, str]],
    agent_mark: Path,
) -> None:
    command = "yes 'spam and eggs' | head -c 3000000; echo; echo the end"
    repo, [sha] = project_repo(tmp_path, {".project.yml": project_file(api=service(command))})
    await publish_test(redis_client, repo, sha)

    raw, code = await run_test_task(start_wrapper, redis_client, env(), agent_mark)

    assert code == 0, raw["error"]
    assert len(raw["output_tail"]) == 8000
    assert raw["output_tail"].endswith("spam and eggs\nspam and e\nthe end\n")
