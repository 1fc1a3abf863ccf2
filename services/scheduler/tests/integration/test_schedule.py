"""The schedule with real replicas: each job runs once per interval however many schedulers run,
and a replica killed mid-run holds its job only until its lease expires."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from api.testing import LiveApi
from redis.asyncio import Redis
from scheduler_testing import SchedulerProcess, scheduler_settings, wait_for_runs
from shared.contracts import JobOutcome, SchedulerRun

INTERVAL_S = 1.0
JOBS = ("streams", "server_health", "provisioning", "server_sync", "repository_sync", "stale_work")
LEASE_S = 3.0


@pytest.fixture
def replicas(redis_url: str, live_api: LiveApi, tmp_path: Path) -> Iterator[list[SchedulerProcess]]:
    started: list[SchedulerProcess] = []
    for name in ("scheduler-a", "scheduler-b"):
        settings = scheduler_settings(
            redis_url=redis_url,
            api_url=live_api.url,
            api_key=live_api.service_key,
            consumer_name=name,
            lease_s=LEASE_S,
            server_provider="local",
            local_forge_dir=tmp_path / "forge",
            **{f"{job}_interval_s": INTERVAL_S for job in JOBS},
        )
        started.append(SchedulerProcess(settings, tmp_path / f"{name}.log"))
    try:
        yield started
    finally:
        for replica in started:
            replica.stop()


def assert_one_run_per_interval(history: list[SchedulerRun], interval_s: float) -> None:
    fences = [run.fence for run in history]
    assert fences == list(range(fences[0], fences[0] + len(fences))), fences
    for earlier, later in itertools.pairwise(history):
        assert later.started_at >= earlier.finished_at, (earlier, later)
        assert later.started_at - earlier.started_at >= timedelta(seconds=interval_s), (
            earlier,
            later,
        )


@pytest.mark.timeout(120)
async def test_two_replicas_run_each_job_exactly_once_per_interval(
    replicas: list[SchedulerProcess], redis_client: Redis
) -> None:
    histories = {job: await wait_for_runs(redis_client, job, 6) for job in JOBS}

    for job, history in histories.items():
        assert all(run.outcome is JobOutcome.SUCCEEDED for run in history), (job, history)
        assert_one_run_per_interval(history, INTERVAL_S)
        state = await redis_client.hgetall(f"scheduler:job:{job}")
        assert int(state["fence"]) >= history[-1].fence
    replicas_seen = {run.replica for history in histories.values() for run in history}
    assert replicas_seen <= {"scheduler-a", "scheduler-b"}
    assert all(replica.process.exit_code is None for replica in replicas)
    assert await redis_client.smembers("scheduler:jobs") == set(JOBS)


class GatedApi:
    """An API whose incident list answers only once the gate opens: a run that asks for it is
    held mid-job for as long as the test wants."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.asked = threading.Event()
        self.incidents: list[dict[str, object]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                api.asked.set()
                if api.gate.wait(120):
                    # The client may be gone: it was the replica the test killed.
                    with contextlib.suppress(OSError):
                        self._answer(200, [])

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length))
                api.incidents.append(body)
                self._answer(201, incident(body))

            def _answer(self, status: int, data: object) -> None:
                payload = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()


def incident(body: dict[str, object]) -> dict[str, object]:
    return {
        "id": "0" * 32,
        "server_id": None,
        "severity": body["severity"],
        "status": "open",
        "title": body["title"],
        "details": body.get("details", ""),
        "created_at": "2026-12-01T00:00:00Z",
        "resolved_at": None,
    }


@pytest.fixture
def gated_api() -> Iterator[GatedApi]:
    api = GatedApi()
    try:
        yield api
    finally:
        api.close()


@pytest.mark.timeout(120)
async def test_a_replica_killed_mid_run_holds_its_job_only_until_the_lease_expires(
    gated_api: GatedApi, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    # A dead letter makes the housekeeping run ask the API for incidents: there it is held.
    await redis_client.xadd("scaffolder:queue:dlq", {"data": "{}"})
    settings: dict[str, Any] = {
        "redis_url": redis_url,
        "api_url": gated_api.url,
        "api_key": "test-key",
        "streams_interval_s": INTERVAL_S,
        "lease_s": LEASE_S,
    }
    first = SchedulerProcess(
        scheduler_settings(**settings, consumer_name="scheduler-a"), tmp_path / "a.log"
    )
    second: SchedulerProcess | None = None
    try:
        assert await asyncio.to_thread(gated_api.asked.wait, 60)
        held = await redis_client.hgetall("scheduler:job:streams")
        assert (held["state"], held["holder"]) == ("running", "scheduler-a")
        first.kill()
        second = SchedulerProcess(
            scheduler_settings(**settings, consumer_name="scheduler-b"), tmp_path / "b.log"
        )
        gated_api.gate.set()

        history = await wait_for_runs(redis_client, "streams", 1)
    finally:
        first.stop()
        if second is not None:
            second.stop()

    taken_over = history[0]
    assert taken_over.replica == "scheduler-b"
    assert taken_over.fence == int(held["fence"]) + 1
    assert taken_over.outcome is JobOutcome.SUCCEEDED
    # The killed run's lease was set for LEASE_S when it started; nobody ran the job before.
    killed_run_started_ms = int(held["started_ms"])
    assert taken_over.started_at.timestamp() * 1000 >= killed_run_started_ms + LEASE_S * 1000
    assert taken_over.summary["new_dead_letters"] == 1
    assert [body["title"] for body in gated_api.incidents] == [
        "New dead letters: scaffolder:queue +1 (1)"
    ]


@pytest.mark.timeout(120)
async def test_a_replica_asked_to_stop_mid_run_leaves_the_job_due_for_another(
    gated_api: GatedApi, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    await redis_client.xadd("scaffolder:queue:dlq", {"data": "{}"})
    settings: dict[str, Any] = {
        "redis_url": redis_url,
        "api_url": gated_api.url,
        "api_key": "test-key",
        "streams_interval_s": 3600,
        "lease_s": LEASE_S,
        "shutdown_grace_s": 1,
    }
    first = SchedulerProcess(
        scheduler_settings(**settings, consumer_name="scheduler-a"), tmp_path / "a.log"
    )
    second: SchedulerProcess | None = None
    try:
        assert await asyncio.to_thread(gated_api.asked.wait, 60)
        assert await asyncio.to_thread(first.stop) == 0
        interrupted = await wait_for_runs(redis_client, "streams", 1)
        second = SchedulerProcess(
            scheduler_settings(**settings, consumer_name="scheduler-b"), tmp_path / "b.log"
        )
        gated_api.gate.set()
        history = await wait_for_runs(redis_client, "streams", 2)
    finally:
        first.stop()
        if second is not None:
            second.stop()

    assert interrupted[0].outcome is JobOutcome.INTERRUPTED
    assert interrupted[0].replica == "scheduler-a"
    # Due at once, although the interval is an hour: the interrupted run did not count.
    assert history[1].replica == "scheduler-b"
    assert history[1].outcome is JobOutcome.SUCCEEDED
    assert history[1].fence == history[0].fence + 1
