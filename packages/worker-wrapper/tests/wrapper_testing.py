"""Helpers for the wrapper's tests (on pytest's pythonpath as `wrapper_testing`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import redis
from shared.contracts import WorkerLifecycleEvent

MOCK_AGENT = Path(__file__).with_name("mock_agent.py")
ROOT = Path(__file__).resolve().parents[3]


def agent_binary(name: str) -> str:
    """A real agent CLI installed by `make agents`; missing is a failure, never a skip."""
    directory = Path(os.environ.get("CODEGEN_AGENTS_BIN", ROOT / "tools/agents/node_modules/.bin"))
    binary = directory / name
    if not binary.exists():
        raise AssertionError(f"{binary} is missing: run `make agents`")
    return str(binary)


def make_bare_repo(root: Path) -> Path:
    """A bare repository with one commit on main, as a forge would hold it."""
    seed, bare = root / "seed", root / "origin.git"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    (seed / "README.md").write_text("# project\n")
    git = ["git", "-C", str(seed), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "initial"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    return bare


def branch_head(bare: Path, branch: str) -> str | None:
    done = subprocess.run(
        ["git", "-C", str(bare), "rev-parse", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def wrapper_env(redis_url: str, workspace: Path, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(workspace / "wrapper-home"),
        "WORKER_ID": "dev-1",
        "WORKER_TYPE": "developer",
        "REDIS_URL": redis_url,
        "AGENT_TYPE": "claude",
        "CLAUDE_BIN": str(MOCK_AGENT),
        "WORKSPACE_DIR": str(workspace),
        "AGENT_TIMEOUT_S": "60",
        "KILL_GRACE_S": "1",
        "HEARTBEAT_TTL_S": "3",
        "LOG_FORMAT": "json",
        "AGENT_EXTRA_ENV": "MOCK_AGENT_BEHAVIOUR,MOCK_COMMIT,MOCK_PID_FILE",
        "API_KEY": "cgo_secret_worker_key",
    }
    env.update(overrides)
    return env


def start_wrapper(env: dict[str, str]) -> subprocess.Popen[str]:
    script = Path(sys.executable).parent / "worker-wrapper"
    return subprocess.Popen(
        [str(script)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def read_stream(redis_url: str, stream: str) -> list[dict[str, Any]]:
    import json

    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        entries = cast(list[tuple[str, dict[str, str]]], client.xrange(stream))
    return [json.loads(fields["data"]) for _, fields in entries]


def wait_for(redis_url: str, stream: str, count: int, timeout: float = 60) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entries = read_stream(redis_url, stream)
        if len(entries) >= count:
            return entries
        time.sleep(0.1)
    raise AssertionError(f"{stream} did not get {count} entries: {read_stream(redis_url, stream)}")


def lifecycle(redis_url: str) -> list[WorkerLifecycleEvent]:
    return [
        WorkerLifecycleEvent.model_validate(e) for e in read_stream(redis_url, "worker:lifecycle")
    ]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/status")
    return not (status.exists() and "State:\tZ" in status.read_text())


def scripted_agent_script(root: Path, *steps: dict[str, Any], summary: str = "done") -> Path:
    """A one-turn script for the scripted agent that ends with a success verdict."""
    import json

    path = root / "script.json"
    turn = {
        "steps": list(steps),
        "reply": "ok",
        "verdict": {"status": "success", "summary": summary, "data": {}},
    }
    path.write_text(json.dumps({"turns": [turn]}))
    return path


def wait_for_file(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear")
        time.sleep(0.05)
