"""The wrapper's own cost per task, apart from interpreter start-up.

Each round runs both sides, alternating (A B A B …):
- A, by hand: this already running process does what a developer task needs, the plain way:
  clone and branch, write the instructions file, run the scripted agent, read HEAD, push, XADD
  the output. `agent_ms` is the agent process alone.
- B, the wrapper: a developer worker process is started; `startup_ms` runs to its `started`
  lifecycle event (ready: it reads its input next). Then the task is published to the worker's
  own stream (`worker:developer:{worker_id}:input`) and `task_ms` runs until its output is in
  `worker:developer:output`.
`overhead_ms` is B's task_ms minus A's task time in the same round: what the wrapper adds to the
same work (asyncio subprocesses, the stream consumer, heartbeat and lifecycle writes, parsing).
`python_ms` and `import_ms` (a bare interpreter; one importing the wrapper) show how much of
start-up is the interpreter. Medians over the rounds, spread = p75 - p25. Every wait is bounded.

Usage: python -P bench/wrapper.py [--rounds N]
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
from shared.contracts import DeveloperWorkerInput, DeveloperWorkerOutput, OutcomeStatus
from shared.streams.registry import DEVELOPER_INPUT
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
WRAPPER = str(Path(sys.executable).parent / "worker-wrapper")
OUTPUT, LIFECYCLE = "worker:developer:output", "worker:lifecycle"
WAIT_S = 60
AGENT = [sys.executable, "-m", "worker_wrapper.scripted_agent"]  # as the scripted runner runs it


def git(*args: str, cwd: Path | None = None) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def bare_repo(root: Path) -> Path:
    seed, bare = root / "seed", root / "origin.git"
    git("init", "-q", "-b", "main", str(seed))
    (seed / "README.md").write_text("x\n")
    git("-c", "user.name=b", "-c", "user.email=b@b", "add", "-A", cwd=seed)
    git("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "init", cwd=seed)
    git("clone", "-q", "--bare", str(seed), str(bare))
    return bare


def read_after(client: redis.Redis, stream: str, last_id: str) -> tuple[str, dict[str, str]]:
    """The next entry of `stream` after `last_id`, waited for with a blocking read (bounded)."""
    reply = cast(
        list[tuple[str, list[tuple[str, dict[str, str]]]]],
        client.xread({stream: last_id}, count=1, block=WAIT_S * 1000),
    )
    if not reply:
        raise TimeoutError(f"nothing on {stream} within {WAIT_S} s")
    return reply[0][1][0]


def last_id(client: redis.Redis, stream: str) -> str:
    entries = cast(list[tuple[str, dict[str, str]]], client.xrevrange(stream, count=1))
    return entries[0][0] if entries else "0-0"


def by_hand(client: redis.Redis, root: Path, script: Path, n: int) -> tuple[float, float]:
    """The task's work done directly; (task seconds, agent seconds)."""
    repo, work, home = bare_repo(root / f"h{n}"), root / f"hw{n}", root / f"hh{n}"
    task = DeveloperWorkerInput(
        task_id=f"h{n}", project_id="p", prompt="go", repo_url=str(repo), branch="feature/b"
    )
    start = time.perf_counter()
    git("clone", "--quiet", str(repo), str(work))
    git("ls-remote", "--heads", "origin", task.branch, cwd=work)
    git("checkout", "--quiet", "-b", task.branch, cwd=work)
    git("config", "user.name", "b", cwd=work)
    git("config", "user.email", "b@b", cwd=work)
    base = git("rev-parse", "HEAD", cwd=work)
    (work / "AGENTS.md").write_text("instructions\n")
    with (work / ".git" / "info" / "exclude").open("a") as exclude:
        exclude.write("\n/AGENTS.md\n")
    agent_start = time.perf_counter()
    done = subprocess.run(
        [*AGENT, "--state-dir", str(home), "--script", str(script), task.prompt],
        cwd=work,
        capture_output=True,
        text=True,
        check=True,
        timeout=WAIT_S,
    )
    agent_s = time.perf_counter() - agent_start
    assert "<result>" in json.loads(done.stdout)["result"]
    head = git("rev-parse", "HEAD", cwd=work)
    assert head != base
    git("push", "--quiet", "origin", f"HEAD:refs/heads/{task.branch}", cwd=work)
    output = DeveloperWorkerOutput(
        request_id=task.request_id,
        task_id=task.task_id,
        worker_id="by-hand",
        status=OutcomeStatus.SUCCESS,
        commit_sha=head,
    )
    client.xadd("by-hand:output", encode(output))  # type: ignore[arg-type]
    return time.perf_counter() - start, agent_s


def through_wrapper(
    client: redis.Redis, url: str, root: Path, script: Path, n: int
) -> tuple[float, float]:
    """A wrapper started, then given the task; (start-up seconds, task seconds)."""
    repo = bare_repo(root / f"w{n}")
    worker_id = f"bench-{n}"
    its_input = DEVELOPER_INPUT.name(worker_id=worker_id)  # the worker's own stream
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(root / f"wh{n}"),
        "WORKER_ID": worker_id,
        "WORKER_TYPE": "developer",
        "REDIS_URL": url,
        "AGENT_TYPE": "scripted",
        "SCRIPTED_AGENT_SCRIPT": str(script),
        "WORKSPACE_DIR": str(root / f"ws{n}"),
        "LOG_LEVEL": "WARNING",
    }
    log = root / f"wrapper-{n}.log"
    lifecycle_from, output_from = last_id(client, LIFECYCLE), last_id(client, OUTPUT)
    task = DeveloperWorkerInput(
        task_id=f"t{n}", project_id="p", prompt="go", repo_url=str(repo), branch="feature/b"
    )
    with log.open("wb") as sink:
        start = time.perf_counter()
        process = subprocess.Popen([WRAPPER], env=env, stdout=sink, stderr=subprocess.STDOUT)
    try:
        _, event = read_after(client, LIFECYCLE, lifecycle_from)
        ready = time.perf_counter()
        assert json.loads(event["data"])["worker_id"] == worker_id
        client.xadd(its_input, encode(task))  # type: ignore[arg-type]
        published = time.perf_counter()
        _, fields = read_after(client, OUTPUT, output_from)
        finished = time.perf_counter()
        result = json.loads(fields["data"])
        assert result["status"] == "success", result
        assert process.wait(WAIT_S) == 0
    except BaseException:
        process.kill()
        process.wait(10)
        sys.stderr.write(log.read_text(errors="replace")[-4000:])
        raise
    return ready - start, finished - published


def interpreter(root: Path, *code: str) -> float:
    """The same interpreter, in an environment like the wrapper's."""
    env = {"PATH": os.environ["PATH"], "HOME": str(root)}
    start = time.perf_counter()
    subprocess.run([sys.executable, *code], env=env, check=True, timeout=WAIT_S)
    return time.perf_counter() - start


def ms(values: list[float]) -> tuple[float, float]:
    """Median and spread (p75 - p25) in milliseconds."""
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return statistics.median(values) * 1000, (q3 - q1) * 1000


def main(rounds: int) -> None:
    server = RedisServer()
    server.start()
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            redis.Redis.from_url(server.url, decode_responses=True) as client,
        ):
            root = Path(tmp)
            script = root / "script.json"
            script.write_text(json.dumps(SCRIPT))
            by_hand(client, root, script, -1)  # warm up both sides
            through_wrapper(client, server.url, root, script, -1)
            series: dict[str, list[float]] = {
                k: [] for k in ("hand", "agent", "startup", "task", "overhead", "python", "import")
            }
            for n in range(rounds):
                hand_s, agent_s = by_hand(client, root, script, n)
                startup_s, task_s = through_wrapper(client, server.url, root, script, n)
                series["hand"].append(hand_s)
                series["agent"].append(agent_s)
                series["startup"].append(startup_s)
                series["task"].append(task_s)
                series["overhead"].append(task_s - hand_s)
                series["python"].append(interpreter(root, "-c", "pass"))
                series["import"].append(interpreter(root, "-c", "import worker_wrapper.main"))
        stats = {k: ms(v) for k, v in series.items()}
        print(
            f"RESULT wrapper rounds={rounds} "
            f"overhead_ms={stats['overhead'][0]:.0f} overhead_spread_ms={stats['overhead'][1]:.0f} "
            f"task_ms={stats['task'][0]:.0f} task_spread_ms={stats['task'][1]:.0f} "
            f"by_hand_ms={stats['hand'][0]:.0f} by_hand_spread_ms={stats['hand'][1]:.0f} "
            f"agent_ms={stats['agent'][0]:.0f} "
            f"startup_ms={stats['startup'][0]:.0f} startup_spread_ms={stats['startup'][1]:.0f} "
            f"import_ms={stats['import'][0]:.0f} python_ms={stats['python'][0]:.0f}"
        )
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    if args.rounds < 5:
        parser.error("--rounds must be at least 5")
    main(args.rounds)
