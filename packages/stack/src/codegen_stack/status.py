"""`codegen status`: the running stack's programs, its live workers, the flows waiting, the
scheduler's jobs (last run, outcome, next run) and the dead letters (entries a service could not
read), from Redis and Postgres directly."""

from __future__ import annotations

import contextlib
from typing import Any, cast

import asyncpg
from pydantic import ValidationError
from redis.asyncio import Redis
from rich.console import Console
from rich.table import Table
from shared.contracts import JobState
from shared.keys import SCHEDULER_JOB, SCHEDULER_JOBS, WORKERS_LIVE
from shared.streams.registry import DLQ_SUFFIX

from codegen_stack.supervisor import alive


async def collect(state: dict[str, Any]) -> dict[str, Any]:
    programs = {
        name: {"pid": info.get("pid"), "starts": info.get("starts", 0),
               "alive": bool(info.get("pid")) and alive(int(info["pid"]))}
        for name, info in (state.get("programs") or {}).items()
    }  # fmt: skip
    report: dict[str, Any] = {
        "running": True,
        "pid": state.get("pid"),
        "api_url": state.get("api_url"),
        "agent": state.get("agent"),
        "front_door": state.get("front_door"),
        "programs": programs,
    }
    redis = Redis.from_url(str(state["redis_url"]), decode_responses=True)
    try:
        report["workers"] = sorted(await redis.smembers(WORKERS_LIVE.name()))
        dead = {}
        async for key in redis.scan_iter(match=f"*{DLQ_SUFFIX}", _type="stream"):
            dead[key] = await redis.xlen(key)
        report["dead_letters"] = dead
        report["jobs"] = await _jobs(redis)
    except Exception as exc:  # a status shows what it can
        report["redis_error"] = str(exc)
    finally:
        await redis.aclose()
    report["flows"] = await _flows(str(state["database_url"]))
    return report


async def _jobs(redis: Redis) -> dict[str, dict[str, Any]]:
    """Each scheduler job as its shared state says: times in ISO 8601 (UTC)."""
    jobs: dict[str, dict[str, Any]] = {}
    names = cast(set[str], await redis.smembers(SCHEDULER_JOBS.name()))
    for name in sorted(names):
        try:
            state: JobState = SCHEDULER_JOB.parse(await redis.hgetall(SCHEDULER_JOB.name(job=name)))
        except (ValidationError, ValueError):
            continue
        jobs[name] = {
            "state": state.state,
            "interval_s": state.interval_s,
            "last_run": _iso(state.finished_ms),
            "outcome": state.outcome.value if state.outcome else None,
            "error": state.error,
            "next_run": _iso(state.next_due_ms),
            "runs": state.fence,
        }
    return jobs


def _iso(ms: int | None) -> str | None:
    moment = JobState.as_datetime(ms)
    return None if moment is None else moment.isoformat(timespec="seconds")


async def _flows(database_url: str) -> dict[str, int]:
    with contextlib.suppress(Exception):
        connection = await asyncpg.connect(database_url, timeout=5)
        try:
            rows = await connection.fetch(
                "select status, count(*) as n from langgraph.flows group by status"
            )
        finally:
            await connection.close()
        return {str(row["status"]): int(row["n"]) for row in rows}
    return {}


def show(report: dict[str, Any], console: Console) -> None:
    if not report["running"]:
        console.print(f"No stack runs on {report['data_dir']}.")
        return
    console.print(
        f"stack pid {report['pid']} on {report['data_dir']} · API {report['api_url']} · "
        f"agent {report['agent']} · front door {report['front_door']}"
    )
    table = Table("program", "pid", "state", "starts")
    for name, info in report["programs"].items():
        state = "[green]up[/green]" if info["alive"] else "[red]down[/red]"
        table.add_row(name, str(info["pid"] or "-"), state, str(info["starts"]))
    console.print(table)
    console.print(f"workers live: {len(report.get('workers', []))}")
    flows = report.get("flows") or {}
    console.print("flows: " + (", ".join(f"{k} {v}" for k, v in sorted(flows.items())) or "none"))
    jobs = report.get("jobs") or {}
    if jobs:
        table = Table("job", "every", "last run", "outcome", "next run")
        for name, job in jobs.items():
            outcome = job["outcome"] or "-"
            if job["state"] == "running":
                outcome = "[yellow]running[/yellow]"
            elif outcome in ("failed", "fenced"):
                outcome = f"[red]{outcome}[/red]: {(job['error'] or '')[:60]}"
            every = f"{job['interval_s']:g} s" if job["interval_s"] else "-"
            table.add_row(
                name, every, job["last_run"] or "never", outcome, job["next_run"] or "now"
            )
        console.print(table)
    dead = {k: v for k, v in (report.get("dead_letters") or {}).items() if v}
    console.print("dead letters: " + (", ".join(f"{k} {v}" for k, v in dead.items()) or "none"))
