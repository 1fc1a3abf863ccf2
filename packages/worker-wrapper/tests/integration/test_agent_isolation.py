"""The agent cannot read the wrapper's credentials: run as another user (AGENT_USER, the wrapper
being root, as in a worker's container) or in bubblewrap (AGENT_SANDBOX=bwrap). A hostile scripted
agent looks for a canary the wrapper holds in its environment in every /proc/*/environ; its turn
still works (it writes, commits, and the wrapper pushes)."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from shared.contracts import DeveloperWorkerInput
from shared.streams.wire import encode
from shared.testing.git import bare_repo, branch_head
from worker_wrapper.adapters.git_cli import GitCli
from worker_wrapper.adapters.isolation import AgentUser, Isolation
from worker_wrapper.adapters.process_group import AgentProcess
from wrapper_testing import Wrapper, scripted_agent_script, wait_for, wrapper_env

INPUT = "worker:developer:dev-1:input"
OUTPUT = "worker:developer:output"
CANARY = f"canary-{uuid.uuid4().hex}"
# Every environment of /proc the agent can read, searched for the canary: "tried readable found".
PROBE = (
    "tried=0; readable=0; found=0; for f in /proc/[0-9]*/environ; do tried=$((tried+1)); "
    'if cat "$f" >/dev/null 2>&1; then readable=$((readable+1)); fi; '
    f'if grep -qa {CANARY} "$f" 2>/dev/null; then found=$((found+1)); fi; done; '
    'echo "$tried $readable $found" > "$HOME/probe.txt"'
)
StartWrapper = Callable[[dict[str, str]], Wrapper]


@pytest.fixture
def agent_user() -> Iterator[AgentUser]:
    """A throwaway system user, removed at teardown, that can run this Python (its directories
    searchable by others for the test's length)."""
    if os.geteuid() != 0:
        pytest.fail("these tests switch users: run them as root (as `make test` does here)")
    name = f"cgagent{uuid.uuid4().hex[:8]}"
    subprocess.run(
        ["useradd", "--system", "--no-create-home", "--user-group", name],
        check=True,
        capture_output=True,
    )
    modes = _searchable([Path(sys.executable).resolve().parent, Path(sys.prefix)])
    try:
        yield AgentUser.named(name)
    finally:
        for path, mode in modes:
            path.chmod(mode)
        subprocess.run(["userdel", name], check=True, capture_output=True)


def _searchable(paths: list[Path]) -> list[tuple[Path, int]]:
    """Search permission for others on `paths` and their parents; their modes before."""
    changed = []
    for path in {p for given in paths for p in [given, *given.parents]}:
        mode = path.stat().st_mode & 0o7777
        if not mode & 0o001:
            changed.append((path, mode))
            path.chmod(mode | 0o001)
    return changed


def _workspace(tmp_path: Path) -> Path:
    """A workspace the agent's user can reach (pytest's directories are root's alone)."""
    workspace = tmp_path / "ws"
    workspace.mkdir()
    for path in [tmp_path, *tmp_path.parents]:
        path.chmod(path.stat().st_mode | 0o001)
    return workspace


async def test_a_command_run_as_the_agent_user_has_its_uid_its_group_and_no_other(
    agent_user: AgentUser, tmp_path: Path
) -> None:
    process = AgentProcess(
        kill_grace_s=1, stop=asyncio.Event(), isolation=Isolation(user=agent_user)
    )
    result = await process.run_merged(
        ["/bin/sh", "-c", f"id -u; id -g; id -G; cat /proc/{os.getpid()}/environ"],
        cwd=_workspace(tmp_path),
        env={"PATH": os.environ["PATH"]},
        timeout_s=30,
        keep_bytes=4096,
    )
    uid, gid, groups, refused = result.stdout.splitlines()
    assert (int(uid), int(gid), groups) == (agent_user.uid, agent_user.gid, str(agent_user.gid))
    assert "Permission denied" in refused


async def test_an_agent_run_as_another_user_cannot_read_the_wrappers_environment_and_still_works(
    agent_user: AgentUser,
    start_wrapper: StartWrapper,
    redis_client: Redis,
    redis_url: str,
    tmp_path: Path,
) -> None:
    workspace = _workspace(tmp_path)
    wrapper = start_wrapper(
        _hostile_env(redis_url, workspace, tmp_path, AGENT_USER=agent_user.name)
    )
    tried, readable, found = await _one_task(wrapper, redis_client, tmp_path, workspace)
    assert tried > 0
    assert found == 0
    # The wrapper (root) holds the canary where another user cannot read it.
    assert CANARY.encode() in _environ(wrapper.pid)
    assert readable < tried
    home = workspace / "home"
    assert (home / "probe.txt").stat().st_uid == agent_user.uid
    assert (workspace / "repo").stat().st_uid == agent_user.uid
    assert pwd.getpwuid((workspace / "repo" / "made-by-agent.txt").stat().st_uid).pw_name == (
        agent_user.name
    )


async def test_an_agent_in_bubblewrap_sees_no_process_of_the_wrapper_and_still_works(
    start_wrapper: StartWrapper, redis_client: Redis, redis_url: str, tmp_path: Path
) -> None:
    if shutil.which("bwrap") is None:
        if shutil.which("apt-get"):
            pytest.fail("bwrap is missing: run ./scripts/ensure-tools (make host-tools)")
        pytest.skip("bubblewrap is not installed on this machine")
    workspace = _workspace(tmp_path)
    wrapper = start_wrapper(_hostile_env(redis_url, workspace, tmp_path, AGENT_SANDBOX="bwrap"))

    tried, readable, found = await _one_task(wrapper, redis_client, tmp_path, workspace)

    assert found == 0
    # Its /proc holds bubblewrap's init, the agent, its shell and the probe's own processes.
    assert readable == tried
    assert tried < 10
    assert CANARY.encode() in _environ(wrapper.pid)


def _hostile_env(
    redis_url: str, workspace: Path, tmp_path: Path, **settings: str
) -> dict[str, str]:
    """A scripted agent that probes for the canary, then writes and commits a file; the wrapper
    holds the canary as its git token. The script is in the workspace: a sandbox hides /tmp."""
    script = scripted_agent_script(
        workspace,
        {"run": PROBE},
        {"write": {"path": "made-by-agent.txt", "content": "mine\n"}},
        {"run": "git add made-by-agent.txt && git commit -q -m 'the agent was here'"},
    )
    return wrapper_env(
        redis_url,
        workspace,
        AGENT_TYPE="scripted",
        SCRIPTED_AGENT_SCRIPT=str(script),
        GIT_TOKEN=CANARY,
        **settings,
    )


async def _one_task(
    wrapper: Wrapper, redis: Redis, tmp_path: Path, workspace: Path
) -> tuple[int, int, int]:
    """Give the wrapper a task on a fresh repository; once it succeeded and the commit is pushed,
    the probe's counts."""
    origin = bare_repo(tmp_path, {"README.md": "hi\n"})
    task = DeveloperWorkerInput.model_validate(
        {
            "task_id": "t-1",
            "project_id": "p-1",
            "prompt": "do it",
            "repo_url": str(origin),
            "branch": "feature",
            "timeout": 60,
        }
    )
    await redis.xadd(INPUT, encode(task))  # type: ignore[arg-type]
    [output] = await wait_for(redis, OUTPUT, 1, wrapper=wrapper)
    assert output["status"] == "success", output
    assert branch_head(origin, "feature") == output["commit_sha"]
    tried, readable, found = (workspace / "home" / "probe.txt").read_text().split()
    return int(tried), int(readable), int(found)


def _environ(pid: int) -> bytes:
    return Path(f"/proc/{pid}/environ").read_bytes()


async def test_the_wrapper_clones_a_local_repository_that_another_user_owns(
    agent_user: AgentUser, tmp_path: Path
) -> None:
    """A local forge's repositories belong to scaffolder's user, not the wrapper's: git's
    ownership check of a local clone's source must not refuse them."""
    source = bare_repo(tmp_path / "forge")
    for path in [source, *source.rglob("*")]:
        os.chown(path, agent_user.uid, agent_user.gid)  # another user's repository
    git = GitCli(author_name="w", author_email="w@w", isolation=Isolation(user=agent_user))

    base = await git.clone(str(source), "work", _workspace(tmp_path) / "repo")

    assert len(base) == 40
