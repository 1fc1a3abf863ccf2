"""Chaos: while three people's wishes go from the chat to live URLs, every service of the stack
is killed (SIGKILL) once, at a random moment of the flows (after a random number of progress
entries, plus a random delay), and `codegen up` starts it again. Every flow must finish, and
nothing may have happened twice: one repository per project, one worker per create request,
one port and one deploy task per project, one execution row per run. Afterwards no entry is
left pending in any consumer group, and no dead letter is there."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest
from codegen_stack.services import SERVICES
from redis.asyncio import Redis
from shared.testing.waiting import eventually
from stack_testing import StackProcess, codegen_up, tasks_of

PEOPLE = 3
WISH = "A small todo-list API: add a todo, list them, mark one done."


@pytest.mark.slow("three whole cycles at once with six services killed and restarted")
@pytest.mark.timeout(1200)
async def test_every_flow_finishes_once_whatever_service_is_killed_when(tmp_path: Path) -> None:
    seed = time.time_ns() % 1_000_000
    rng = random.Random(seed)
    print(f"chaos seed {seed}")
    async with codegen_up(tmp_path / "data") as stack:
        assert stack.redis is not None
        people = [int(stack.state["telegram_id"]), *await _more_people(stack, PEOPLE - 1)]
        for person in people:
            await stack.chat(person).say(WISH)

        kills = await _kill_each_service_once(stack, stack.redis, rng)
        deploys = await _every_flow_deployed(stack, len(people))
        counts = await _counts(stack, stack.redis)

        print(
            f"CHAOS seed={seed} flows={len(people)} finished={len(deploys)} "
            f"duplicates={counts['duplicates']} kills={len(kills)} "
            f"progress_entries={await _progress_entries(stack.redis)} "
            + " ".join(f"{k}={v}" for k, v in counts.items() if k != "duplicates")
        )
        print("killed:", ", ".join(f"{name} after {n} progress entries" for name, n in kills))
        async with httpx.AsyncClient(timeout=10) as client:
            for deploy in deploys:
                health = await client.get(deploy["result"]["health_url"])
                assert health.status_code == 200, deploy
        assert counts["duplicates"] == 0, counts
        assert counts["repositories"] == counts["projects"] == len(people)
        await _nothing_pending(stack.redis)
        assert await _dead_letters(stack.redis) == {}


async def _more_people(stack: StackProcess, n: int) -> list[int]:
    ids = []
    async with stack.api() as api:
        for i in range(n):
            telegram_id = 1000 + i
            answer = await api.post(
                "/api/users", json={"username": f"person-{i}", "telegram_id": telegram_id}
            )
            assert answer.status_code == 201, answer.text
            ids.append(telegram_id)
    return ids


async def _kill_each_service_once(
    stack: StackProcess, redis: Redis, rng: random.Random
) -> list[tuple[str, int]]:
    """Each service once, in a random order, each after a random number of progress entries
    (of the ~30 the three flows write, so the kills fall before their end) and a random delay
    of up to 2 s; then it must come back."""
    order = rng.sample(list(SERVICES), len(SERVICES))
    moments = sorted(rng.randint(1, 20) for _ in order)
    kills = []
    for name, moment in zip(order, moments, strict=True):

        async def reached(moment: int = moment) -> int | None:
            entries = await _progress_entries(redis)
            return entries if entries >= moment else None

        entries = await eventually(reached, within=600, interval=0.2)
        await asyncio.sleep(rng.uniform(0, 2))  # a random moment, not a synchronisation
        pid, starts = stack.pid_of(name), stack.starts_of(name)
        assert pid is not None, name
        os.kill(pid, signal.SIGKILL)
        kills.append((name, entries))

        async def restarted(name: str = name, pid: int = pid, starts: int = starts) -> bool:
            now = stack.pid_of(name)
            return stack.starts_of(name) > starts and now is not None and now != pid

        await eventually(restarted, within=120, interval=0.1)
    return kills


async def _progress_entries(redis: Redis) -> int:
    total = 0
    async for key in redis.scan_iter(match="task_progress:*", _type="stream"):
        total += await redis.xlen(key)
    return total


async def _every_flow_deployed(stack: StackProcess, flows: int) -> list[dict[str, Any]]:
    async def deployed() -> list[dict[str, Any]] | None:
        try:
            async with stack.api() as api:
                tasks = await tasks_of(api)
        except httpx.TransportError:
            return None  # the API is being restarted
        ended_badly = [t for t in tasks if t["status"] in ("failed", "cancelled")]
        assert not ended_badly, ended_badly
        done = [t for t in tasks if t["type"] == "deploy" and t["status"] == "completed"]
        return done if len(done) >= flows else None

    return await eventually(deployed, within=900, interval=1)


async def _counts(stack: StackProcess, redis: Redis) -> dict[str, int]:
    async with stack.api() as api:
        projects = (await api.get("/api/projects", params={"limit": 500})).json()
        tasks = await tasks_of(api)
        runs: list[dict[str, Any]] = []
        for task in tasks:
            answer = await api.get("/api/task-executions", params={"task_id": task["id"]})
            runs += answer.json()
        ports = (await api.get("/api/port-allocations", params={"limit": 500})).json()
    forge = stack.layout.root / "services" / "scaffolder" / "repositories"
    repositories = [p for p in forge.rglob("*") if p.is_dir() and (p / "HEAD").is_file()]
    created: dict[str, set[str]] = defaultdict(set)
    for stream in ("worker:responses:developer", "worker:responses:po"):
        for _, fields in await redis.xrange(stream) or []:
            made = _json(fields)
            if made.get("success") and made.get("worker_id"):
                created[made["request_id"]].add(made["worker_id"])
    deploy_tasks = Counter(t["project_id"] for t in tasks if t["type"] == "deploy")
    engineering_tasks = Counter(t["project_id"] for t in tasks if t["type"] == "engineering")
    port_owners = Counter(p.get("project_id") for p in ports)
    run_ids = Counter(r["request_id"] for r in runs)
    duplicates = {
        "workers": sum(len(w) - 1 for w in created.values()),
        "deploy_tasks": sum(n - 1 for n in deploy_tasks.values()),
        "engineering_tasks": sum(n - 1 for n in engineering_tasks.values()),
        "ports": sum(n - 1 for n in port_owners.values()),
        "executions": sum(n - 1 for n in run_ids.values()),
        "repositories": max(0, len(repositories) - len(projects)),
    }
    print("duplicates by kind:", duplicates)
    return {
        "duplicates": sum(duplicates.values()),
        "projects": len(projects),
        "repositories": len(repositories),
        "workers": sum(len(w) for w in created.values()),
        "deploys": sum(deploy_tasks.values()),
        "executions": len(runs),
    }


def _json(fields: Any) -> dict[str, Any]:
    try:
        value = json.loads(fields.get("data", "{}"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


async def _nothing_pending(redis: Redis) -> None:
    """Every consumer group has acknowledged everything (what a killed consumer held was taken
    up again)."""

    async def nothing() -> bool:
        return not await _pending_now(redis)

    try:
        await eventually(nothing, within=180, interval=1)
    except AssertionError:
        raise AssertionError(f"left pending: {await _pending_now(redis)}") from None


async def _pending_now(redis: Redis) -> dict[str, int]:
    left = {}
    async for stream in redis.scan_iter(_type="stream"):
        for group in await redis.xinfo_groups(stream):
            if group["pending"]:
                left[f"{stream} {group['name']}"] = group["pending"]
    return left


async def _dead_letters(redis: Redis) -> dict[str, list[Any]]:
    found = {}
    async for stream in redis.scan_iter(match="*:dlq", _type="stream"):
        entries = await redis.xrange(stream)
        if entries:
            found[stream] = entries
    return found
