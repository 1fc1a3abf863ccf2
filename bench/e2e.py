"""A wish to a live URL on the local stack, end to end, with the time of each stage and the share
the orchestration itself takes (the waiting between stages).

The stack is `codegen up` as its own process on a temporary data directory (stack_testing's
`codegen_up`: the same code a person runs; Postgres, Redis and every service a real process,
workers started by worker-manager as processes). The agents are the scripted ones, instant: the
demo's PO (todo_api.json, its first turn played for every wish: make the project — todo-api, or
todo-api-XXXXXX once that name is taken — start engineering with the wish as its spec, wait for
it, deploy, follow the deploy, tell the URL) and the demo's developer (writes two files, adds
the router to main.py, commits). The tester and the deploy do their real work: a fresh `.venv`,
`pip install`, pytest; infra-service's playbook on the `local` target.

Each run sends the wish through the local chat (`LocalChat.say`, as `codegen chat` does) and ends
when the deploy task the wish led to is completed and its health URL answers 200 (the bench
reads the deploy's result on its `task_progress:{task_id}` stream as it comes, then GETs the
URL). `--runs` runs (default 3), one after the other, each a new project on the same stack; the
first is also reported on its own (cold: the PO worker is created, nothing cached yet). Between
runs the bench waits for the PO's turn to end (not timed), so no wish queues behind the last.

Stages, from the system's own records only (no log is read), all on this machine's clock:
- po: wish sent (the bench's clock, just before the XADD) → the engineering task's created_at;
- scaffold: langgraph's `scaffold` progress entry (just before it asks the scaffolder) → the
  scaffolder's `done` progress entry, both on the engineering task's progress stream (Redis
  entry ids: the Redis server's clock, 1 ms);
- develop, test: each develop / test run's task execution in the API (started_at: recorded just
  before langgraph sends the run to the worker; finished_at: when it recorded the worker's
  output), summed over the attempts;
- deploy: the deploy task's `deploy` progress entry (just before infra-service is asked) → its
  result entry on deploy:results;
- smoke: the deploy task's `smoke` progress entry → the deploy task's finished_at.
Orchestration = the whole wish → URL minus the time inside any stage: the stream hops, the
flows' intake, worker creation (a developer and a tester worker per attempt), the PO's polling
of the engineering task, the bench seeing the result and the URL answering.
orchestration_share = that / the whole. Each run's gaps between stages are printed by name.
Also printed: each develop/test run's own wall time in the worker (its duration_ms) and, for the
tests, the time pytest reports in the run's recorded output, so what the rest of a test run is
(the checkout, the fresh venv and `pip install '.[test]'`) shows.

The stack is stopped at the end, on a failure or on Ctrl-C alike: SIGTERM to `codegen up`, then
nothing of the data directory may be left running (stack_testing.stop).

Last line: RESULT e2e wish_to_url_s=<median> orchestration_share=<median, 0..1> po_s=<median>
scaffold_s=... develop_s=... test_s=... deploy_s=... smoke_s=... cold_s=<run 1's total> runs=<n>

Usage: python -P bench/e2e.py [--runs 3] [--keep-logs]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, cast

import httpx
from codegen_stack.chat import LocalChat
from codegen_stack.demo.run import default_script
from redis.asyncio import Redis
from shared.streams.registry import DEPLOY_RESULTS, TASK_PROGRESS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "packages" / "stack" / "tests"))
from stack_testing import StackProcess, codegen_up, script_file, tasks_of

WISH = "A small todo-list API: add a todo, list them, mark one done."
STAGES = ("po", "scaffold", "develop", "test", "deploy", "smoke")
RUN_S = 600  # one wish to its URL, at most
PO_TURN_END_S = 120  # the PO's last steps after the deploy (its poll sleeps 2 s)
TASK_POLL_S = 0.2  # looking for the deploy task the wish led to
PYTEST_TIME = re.compile(r"\d+ passed[^\n]* in ([\d.]+)s")
Interval = tuple[str, float, float]  # a stage's name, its start and end (s since the epoch)


class BenchFailed(RuntimeError):
    pass


@dataclass
class Run:
    number: int
    project: str
    total: float
    stages: dict[str, float]
    gaps: list[tuple[str, float]]
    share: float
    worker_s: dict[str, float] = field(default_factory=dict)  # develop/test: inside the worker
    pytest_s: float | None = None

    @property
    def orchestration(self) -> float:
        return self.share * self.total


def bench_script(path: Path) -> tuple[Path, str]:
    """The demo's script, its PO's first turn only (a script replays its last turn: every wish
    plays the whole cycle); and that turn's reply, which ends it in the chat."""
    roles = json.loads(default_script().read_text())["roles"]
    turn = roles["po"]["turns"][0]
    script = script_file(path, {"po": {"turns": [turn]}, "developer": roles["developer"]})
    return script, str(turn["reply"])


def at(value: str) -> float:
    """An API time, as seconds since the epoch."""
    return datetime.fromisoformat(value).timestamp()


def entry_s(entry_id: str) -> float:
    return int(entry_id.split("-", 1)[0]) / 1000


async def progress_of(redis: Redis, task_id: str) -> dict[str, tuple[float, dict[str, Any]]]:
    """The task's progress stream: request_id → (its entry's time, the entry)."""
    entries = cast(
        list[tuple[str, dict[str, str]]],
        await redis.xrange(TASK_PROGRESS.name(task_id=task_id), "-", "+"),
    )
    found: dict[str, tuple[float, dict[str, Any]]] = {}
    for entry_id, fields in entries:
        data = cast(dict[str, Any], json.loads(fields["data"]))
        found.setdefault(str(data.get("request_id")), (entry_s(entry_id), data))
    return found


async def result_entry_s(redis: Redis, stream: str, request: str) -> float:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrevrange(stream, count=500))
    for entry_id, fields in entries:
        if json.loads(fields["data"]).get("request_id") == request:
            return entry_s(entry_id)
    raise BenchFailed(f"no entry for {request} on {stream}")


def recorded(progress: dict[str, tuple[float, dict[str, Any]]], request: str) -> float:
    if request not in progress:
        raise BenchFailed(f"no progress entry {request}: {sorted(progress)}")
    return progress[request][0]


async def deploy_of(
    api: httpx.AsyncClient, redis: Redis, owner_id: str, before: set[str], within_s: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The engineering and deploy tasks the wish made, once the deploy ended (read on its
    progress stream as it comes); BenchFailed if one of them ended otherwise."""
    deadline = time.monotonic() + within_s
    deploy: dict[str, Any] | None = None
    while deploy is None:
        new = [t for t in await tasks_of(api, owner_id=owner_id) if t["id"] not in before]
        for task in new:
            if task["status"] in ("failed", "cancelled"):
                raise BenchFailed(f"the {task['type']} task {task['id']} {task['status']}: "
                                  f"{task.get('error')}")  # fmt: skip
        deploy = next((t for t in new if t["type"] == "deploy"), None)
        if time.monotonic() > deadline:
            raise BenchFailed(f"no deploy within {within_s:.0f} s; tasks: {new}")
        if deploy is None:
            await asyncio.sleep(TASK_POLL_S)
    stream, last = TASK_PROGRESS.name(task_id=deploy["id"]), "0-0"
    while True:
        left_ms = int((deadline - time.monotonic()) * 1000)
        if left_ms <= 0:
            raise BenchFailed(f"the deploy {deploy['id']} did not end within {within_s:.0f} s")
        read = cast(
            list[tuple[str, list[tuple[str, dict[str, str]]]]],
            await redis.xread({stream: last}, block=min(left_ms, 1000)),
        )
        ended = False
        for _, entries in read or []:
            for entry_id, fields in entries:
                last = entry_id
                ended = ended or json.loads(fields["data"]).get("kind") == "deploy_result"
        if ended:
            break
    tasks = {t["id"]: t for t in await tasks_of(api, owner_id=owner_id) if t["id"] not in before}
    [engineering] = [t for t in tasks.values() if t["type"] == "engineering"]
    deploy = tasks[deploy["id"]]
    if deploy["status"] != "completed" or engineering["status"] != "completed":
        raise BenchFailed(f"deploy {deploy['status']}: {deploy.get('error')}")
    return engineering, deploy


async def po_turn_ended(chat: LocalChat, after: str, reply: str, within_s: float) -> None:
    """The PO's turn said its last word in the chat."""

    async def said() -> None:
        async for output in chat.replies(after):
            if reply[:40] in output.text:
                return

    try:
        await asyncio.wait_for(said(), within_s)
    except TimeoutError:
        raise BenchFailed(f"the PO's turn did not end within {within_s:.0f} s") from None


def inside(intervals: list[Interval], start: float, end: float) -> float:
    """Seconds of [start, end] covered by at least one interval."""
    covered, cursor = 0.0, start
    for _, a, b in sorted(intervals, key=lambda i: i[1]):
        a, b = max(a, cursor), min(b, end)
        if b > a:
            covered += b - a
            cursor = b
    return covered


def gaps_of(intervals: list[Interval], start: float, end: float) -> list[tuple[str, float]]:
    """The time between one stage (or moment: an interval of no length) and the next, named by
    both."""
    gaps: list[tuple[str, float]] = []
    cursor, previous = start, "wish"
    for name, a, b in sorted(intervals, key=lambda i: i[1]):
        if a > cursor:
            gaps.append((f"{previous}→{name}", a - cursor))
        if b >= cursor:
            cursor, previous = b, name
    gaps.append((f"{previous}→URL answers", max(0.0, end - cursor)))
    return gaps


async def one_run(number: int, stack: StackProcess, api: httpx.AsyncClient, reply: str) -> Run:
    redis = stack.redis
    assert redis is not None
    owner = stack.local_user_id
    chat = stack.chat()
    before = {t["id"] for t in await tasks_of(api, owner_id=owner)}
    after = await chat.last_id()

    wish_at = time.time()
    await chat.say(WISH)
    engineering, deploy = await deploy_of(api, redis, owner, before, RUN_S)
    result = deploy["result"] or {}
    health_url = str(result.get("health_url") or result.get("deployed_url"))
    async with httpx.AsyncClient(timeout=10) as client:
        health = await client.get(health_url)
    url_at = time.time()
    if health.status_code != 200:
        raise BenchFailed(f"{health_url} answered {health.status_code}: {health.text[:200]}")
    await po_turn_ended(chat, after, reply, PO_TURN_END_S)

    eng_id, deploy_id = engineering["id"], deploy["id"]
    progress = await progress_of(redis, eng_id)
    deploy_progress = await progress_of(redis, deploy_id)
    response = await api.get("/api/task-executions", params={"task_id": eng_id, "limit": 500})
    response.raise_for_status()
    executions = cast(list[dict[str, Any]], response.json())
    project = (await api.get(f"/api/projects/{engineering['project_id']}")).json()

    intervals: list[Interval] = [("po", wish_at, at(engineering["created_at"]))]
    if f"{eng_id}.progress.scaffold" in progress:
        scaffolded = recorded(progress, f"{eng_id}.scaffold:done")
        intervals.append(
            ("scaffold", recorded(progress, f"{eng_id}.progress.scaffold"), scaffolded)
        )
    worker_s: dict[str, float] = {"develop": 0.0, "test": 0.0}
    pytest_s: float | None = None
    for execution in executions:
        kind = str(execution["request_id"]).rsplit(".", 1)[-1]
        label = ".".join(str(execution["request_id"]).split(".")[-2:])  # a1.develop
        if kind not in worker_s or not execution.get("finished_at"):
            continue
        intervals.append((label, at(execution["started_at"]), at(execution["finished_at"])))
        worker_s[kind] += (execution.get("duration_ms") or 0) / 1000
        tail = str((execution.get("result") or {}).get("output_tail") or "")
        if kind == "test" and (times := PYTEST_TIME.findall(tail)):
            pytest_s = (pytest_s or 0.0) + float(times[-1])
    deployed = await result_entry_s(redis, DEPLOY_RESULTS.pattern, f"{deploy_id}.deploy")
    intervals.append(
        ("deploy", recorded(deploy_progress, f"{deploy_id}.progress.deploy"), deployed)
    )
    smoke_from = recorded(deploy_progress, f"{deploy_id}.progress.smoke")
    intervals.append(("smoke", smoke_from, at(deploy["finished_at"])))

    stages = dict.fromkeys(STAGES, 0.0)
    for name, a, b in intervals:
        stages[name.split(".")[-1]] += b - a
    total = url_at - wish_at
    share = (total - inside(intervals, wish_at, url_at)) / total
    # Moments inside the gap between the tests and the deploy, to name its parts.
    marks = [("engineering completed", at(engineering["finished_at"])),
             ("deploy created", at(deploy["created_at"]))]  # fmt: skip
    gaps = gaps_of(intervals + [(name, t, t) for name, t in marks], wish_at, url_at)
    return Run(number, project["name"], total, stages, gaps, share, worker_s, pytest_s)


def table(runs: list[Run]) -> None:
    head = f"{'run':>3} {'project':<18} {'total':>7} " + " ".join(f"{s:>8}" for s in STAGES)
    print(head + f" {'orchestr.':>9} {'share':>6}")
    for run in runs:
        cells = " ".join(f"{run.stages[s]:>8.2f}" for s in STAGES)
        print(f"{run.number:>3} {run.project:<18} {run.total:>7.2f} {cells} "
              f"{run.orchestration:>9.2f} {run.share:>6.3f}")  # fmt: skip
    for run in runs:
        gaps = ", ".join(f"{name} {seconds:.2f}" for name, seconds in run.gaps)
        inner = f"develop {run.worker_s['develop']:.2f}, test {run.worker_s['test']:.2f}"
        pytest = "?" if run.pytest_s is None else f"{run.pytest_s:.2f}"
        print(f"run {run.number}: between stages (s): {gaps}")
        print(f"       inside the workers (s): {inner} (pytest's own {pytest})")


def medians(runs: list[Run]) -> dict[str, float]:
    values = {s: statistics.median(r.stages[s] for r in runs) for s in STAGES}
    values["total"] = statistics.median(r.total for r in runs)
    values["share"] = statistics.median(r.share for r in runs)
    return values


def summary(runs: list[Run]) -> dict[str, float]:
    middle = medians(runs)
    line = ", ".join(f"{s} {middle[s]:.2f}" for s in STAGES)
    print(f"medians over {len(runs)} runs (s): total {middle['total']:.2f}, {line}, "
          f"orchestration share {middle['share']:.3f}")  # fmt: skip
    cold = runs[0]
    print(f"cold (run 1): total {cold.total:.2f} s, orchestration share {cold.share:.3f}")
    if len(runs) > 1:
        warm = medians(runs[1:])
        print(f"warm (runs 2..{len(runs)}, medians): total {warm['total']:.2f} s, "
              f"orchestration share {warm['share']:.3f}")  # fmt: skip
    dominant = max(STAGES, key=lambda s: middle[s])
    print(f"dominant stage: {dominant}, {middle[dominant]:.2f} s of {middle['total']:.2f} s "
          f"({middle[dominant] / middle['total']:.0%})")  # fmt: skip
    tests = [r for r in runs if r.pytest_s is not None]
    if tests:
        worker = statistics.median(r.worker_s["test"] for r in tests)
        pytest = statistics.median(cast(float, r.pytest_s) for r in tests)
        print(f"  test runs inside the tester: {worker:.2f} s, of which pytest {pytest:.2f} s; "
              f"the rest ({worker - pytest:.2f} s) is the checkout, the fresh .venv and "
              "pip install '.[test]' (medians)")  # fmt: skip
    print(
        f"  deploy: infra-service's playbook on the local target (checkout, fresh .venv, "
        f"pip install ., start, wait for health): {middle['deploy']:.2f} s (median)"
    )
    verdict = "met" if middle["total"] <= 30 and middle["share"] <= 0.05 else "not met"
    print(f"goal (≤ 30 s wish→URL, orchestration ≤ 5%): {verdict}")
    return middle


@contextlib.asynccontextmanager
async def local_stack(data_dir: Path, script: Path) -> AsyncIterator[StackProcess]:
    """stack_testing's `codegen up`; the tail of its output is shown only when something
    failed (the bench, or the stop)."""
    up = codegen_up(data_dir, "--agent-script", str(script))
    stack = await up.__aenter__()
    try:
        yield stack
    except BaseException as exc:
        if not await up.__aexit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        tail = io.StringIO()
        try:
            with contextlib.redirect_stdout(tail):
                await up.__aexit__(None, None, None)
        except BaseException:
            print(tail.getvalue())
            raise


async def bench(count: int, workdir: Path) -> list[Run]:
    # SIGTERM stops the bench as Ctrl-C does: the stack is stopped on the way out.
    main = asyncio.current_task()
    assert main is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, main.cancel)
    script, reply = bench_script(workdir / "script.json")
    started = time.monotonic()
    async with local_stack(workdir / "data", script) as stack, stack.api() as api:
        print(f"codegen up: the stack answered in {time.monotonic() - started:.1f} s; "
              f"{count} wishes, one after the other", flush=True)  # fmt: skip
        runs = []
        for number in range(1, count + 1):
            run = await one_run(number, stack, api, reply)
            print(f"run {number}: {run.project} live in {run.total:.2f} s", flush=True)
            runs.append(run)
    return runs


def main(count: int, keep_logs: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-e2e-"))
    try:
        runs = asyncio.run(bench(count, workdir))
    finally:
        if keep_logs:
            print(f"logs kept in {workdir / 'data'}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    table(runs)
    middle = summary(runs)
    stages = " ".join(f"{s}_s={middle[s]:.2f}" for s in STAGES)
    print(
        f"RESULT e2e wish_to_url_s={middle['total']:.2f} "
        f"orchestration_share={middle['share']:.3f} {stages} cold_s={runs[0].total:.2f} "
        f"runs={len(runs)}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=3, help="wishes, each a new project")
    parser.add_argument("--keep-logs", action="store_true", help="keep the stack's data dir")
    options = parser.parse_args()
    if options.runs < 1:
        parser.error("--runs must be at least 1")
    main(options.runs, options.keep_logs)
