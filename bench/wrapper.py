"""The wrapper's overhead around a trivial scripted agent vs running that agent directly.

Wrapper: a developer worker process is started, a task is published, and the clock stops when
its output is in `worker:developer:output` (clone, agent, git, push, publish included). Direct:
the same agent command in an already cloned repository. Medians of N alternated runs.

Usage: python -P bench/wrapper.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

import redis
from shared.contracts import DeveloperWorkerInput
from shared.streams.wire import encode
from shared.testing.servers import RedisServer

SCRIPT = {
    "turns": [
        {
            "steps": [{"run": "echo hi > a.txt && git add a.txt && git commit -qm a"}],
            "reply": "ok",
            "verdict": {"status": "success", "summary": "a"},
        }
    ]
}


def bare_repo(root: Path) -> Path:
    seed, bare = root / "seed", root / "origin.git"
    subprocess.run(["git", "init", "-q", "-b", "main", str(seed)], check=True)
    (seed / "README.md").write_text("x\n")
    git = ["git", "-C", str(seed), "-c", "user.name=b", "-c", "user.email=b@b"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    return bare


def through_wrapper(url: str, root: Path, script: Path, n: int) -> float:
    repo = bare_repo(root / f"w{n}")
    client = redis.Redis.from_url(url, decode_responses=True)
    client.delete("worker:developer:output")
    task = DeveloperWorkerInput(task_id=f"t{n}", project_id="p", prompt="go", repo_url=str(repo))
    env = {
        **os.environ,
        "WORKER_ID": f"bench-{n}",
        "WORKER_TYPE": "developer",
        "REDIS_URL": url,
        "AGENT_TYPE": "scripted",
        "SCRIPTED_AGENT_SCRIPT": str(script),
        "WORKSPACE_DIR": str(root / f"ws{n}"),
        "LOG_LEVEL": "WARNING",
    }
    start = time.perf_counter()
    client.xadd("worker:developer:input", encode(task))  # type: ignore[arg-type]
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "worker-wrapper")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    while not client.xlen("worker:developer:output"):
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    process.wait(30)
    entries = cast(list[tuple[str, dict[str, str]]], client.xrange("worker:developer:output"))
    assert json.loads(entries[0][1]["data"])["status"] == "success"
    client.close()
    return elapsed


def direct(root: Path, script: Path, n: int) -> float:
    repo = bare_repo(root / f"d{n}")
    work = root / f"dw{n}"
    subprocess.run(["git", "clone", "-q", str(repo), str(work)], check=True)
    subprocess.run(["git", "-C", str(work), "config", "user.email", "b@b"], check=True)
    subprocess.run(["git", "-C", str(work), "config", "user.name", "b"], check=True)
    start = time.perf_counter()
    subprocess.run(
        [
            sys.executable,
            "-m",
            "worker_wrapper.scripted_agent",
            "--script",
            str(script),
            "--state-dir",
            str(root / f"dh{n}"),
            "go",
        ],
        cwd=work,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - start


def main(runs: int) -> None:
    server = RedisServer()
    server.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            script = root / "script.json"
            script.write_text(json.dumps(SCRIPT))
            through_wrapper(server.url, root, script, -1)  # warm up
            wrapped, bare = [], []
            for n in range(runs):
                bare.append(direct(root, script, n))
                wrapped.append(through_wrapper(server.url, root, script, n))
        wrapper_s, direct_s = statistics.median(wrapped), statistics.median(bare)
        print(
            f"RESULT wrapper overhead_ratio={wrapper_s / direct_s:.2f} "
            f"wrapper_ms={wrapper_s * 1000:.0f} direct_ms={direct_s * 1000:.0f}"
        )
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    main(parser.parse_args().runs)
