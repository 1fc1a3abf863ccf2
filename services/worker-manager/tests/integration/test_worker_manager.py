"""worker-manager as real processes with the process backend: real worker processes, real Redis,
the real API."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from manager_testing import (
    ManagerProcess,
    answer_to,
    entries,
    kill_workers,
    manager_env,
    wait_for_answer,
    worker_ids,
    worker_processes,
)
from redis.asyncio import Redis
from shared.contracts import (
    AgentType,
    CreateWorkerCommand,
    DeleteWorkerCommand,
    DeveloperWorkerInput,
    LifecycleEventKind,
    POWorkerInput,
    StatusWorkerCommand,
    WorkerConfig,
    WorkerLifecycleEvent,
    WorkerResponse,
    WorkerState,
    WorkerType,
)
from shared.streams import RedisStreamPublisher
from shared.testing.git import bare_repo
from shared.testing.hostile import settled
from shared.testing.waiting import eventually
from worker_manager.adapters.redis_status_store import RedisStatusStore

STATUS_TTL_S = 600
APOLOGY = "Sorry, that took too long and I had to stop. Could you ask again, more simply?"


class Harness:
    def __init__(self, redis: Redis, api: LiveApi, user_id: str, tmp: Path) -> None:
        self.redis, self.api, self.user_id, self.tmp = redis, api, user_id, tmp
        self.publisher = RedisStreamPublisher(redis)
        self.store = RedisStatusStore(redis)
        self.workspaces = tmp / "workers"

    def script(self, *steps: dict[str, Any], reply: str = "ok") -> str:
        path = self.tmp / f"script-{len(list(self.tmp.glob('script-*')))}.json"
        path.write_text(
            json.dumps(
                {
                    "turns": [
                        {
                            "steps": list(steps),
                            "reply": reply,
                            "verdict": {"status": "success", "summary": "s"},
                        }
                    ]
                }
            )
        )
        return str(path)

    async def create(
        self,
        worker_type: WorkerType,
        script: str | None = None,
        request_id: str | None = None,
        session_id: str | None = None,
    ) -> WorkerResponse:
        env = {"SCRIPTED_AGENT_SCRIPT": script} if script else {}
        context = {"user_id": self.user_id, "task_id": "t-1"}
        if session_id:
            context["session_id"] = session_id
        command = CreateWorkerCommand(
            config=WorkerConfig(
                name="w",
                worker_type=worker_type,
                agent_type=AgentType.SCRIPTED,
                allowed_commands="DEVELOPER",
                env_vars=env,
            ),
            context=context,
            **({"request_id": request_id} if request_id else {}),
        )
        await self.publisher.publish("worker:commands", command)
        return await self.answer(f"worker:responses:{worker_type.value}", command.request_id)

    async def answer(self, stream: str, request_id: str, within: float = 30) -> WorkerResponse:
        return await wait_for_answer(self.redis, stream, request_id, within)

    async def state(self, worker_id: str) -> str | None:
        status = await self.store.status(worker_id)
        return status.state if status else None

    async def reaches(self, worker_id: str, state: WorkerState, within: float = 30) -> None:
        async def check() -> bool:
            return await self.state(worker_id) == state

        await eventually(check, within)


@pytest_asyncio.fixture
async def harness(
    live_api: LiveApi, redis_url: str, redis_client: Redis, tmp_path: Path
) -> AsyncIterator[Harness]:
    async with httpx.AsyncClient(
        base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
    ) as api:
        user = (await api.post("/api/users", json={"username": "manager-user"})).json()
    env = manager_env(
        redis_url,
        tmp_path / "workers",
        api_url=live_api.url,
        api_key=live_api.service_key,
        max_workers=2,
        task_timeout_s=1,
        idle_timeout_s=2,
        monitor_interval_s=0.2,
        stop_grace_s=3,
        status_ttl_s=STATUS_TTL_S,
    )
    manager = ManagerProcess(env, tmp_path / "manager.log")
    try:
        yield Harness(redis_client, live_api, user["id"], tmp_path)
    finally:
        manager.stop()
        kill_workers(await worker_ids(redis_client))


async def test_a_developer_worker_is_created_runs_a_task_completes_and_leaves_nothing(
    harness: Harness,
) -> None:
    script = harness.script({"run": "echo x > x.txt && git add x.txt && git commit -qm x"})
    repo = bare_repo(harness.tmp)

    response = await harness.create(WorkerType.DEVELOPER, script)

    assert response.success is True, response
    assert response.worker_id is not None
    worker_id = response.worker_id
    # As the flow does: the run goes to the worker's own stream once its id is known.
    await harness.publisher.publish(
        f"worker:developer:{worker_id}:input",
        DeveloperWorkerInput(
            task_id="t-1", project_id="p-1", prompt="go", repo_url=str(repo), timeout=60
        ),
    )
    handle = await _handle(harness, worker_id)
    [output] = await eventually(lambda: entries(harness.redis, "worker:developer:output"), 60)
    assert output["status"] == "success"
    assert output["worker_id"] == worker_id
    await harness.reaches(worker_id, WorkerState.COMPLETED)
    status = await harness.store.status(worker_id)
    assert status is not None
    assert status.exit_code == 0
    assert await _key_revoked(harness, worker_id)
    await _left_nothing(harness, worker_id, handle)


async def test_a_worker_killed_mid_task_is_failed_with_one_failed_output_and_its_agent_ended(
    harness: Harness,
) -> None:
    script = harness.script({"sleep": 60})
    repo = bare_repo(harness.tmp)
    task = DeveloperWorkerInput(
        task_id="t-9", project_id="p-1", prompt="go", repo_url=str(repo), timeout=120
    )
    response = await harness.create(WorkerType.DEVELOPER, script)
    assert response.worker_id is not None
    worker_id = response.worker_id
    await harness.publisher.publish(f"worker:developer:{worker_id}:input", task)

    await eventually(lambda: _busy(harness, worker_id))
    handle = await _handle(harness, worker_id)
    assert worker_processes(worker_id)  # the wrapper and its agent, in a session of its own
    os.killpg(int(handle), signal.SIGKILL)

    # The final state is written after the report: once it shows, no other report can follow.
    await harness.reaches(worker_id, WorkerState.FAILED)
    outputs = await entries(harness.redis, "worker:developer:output")
    assert len(outputs) == 1
    assert outputs[0]["request_id"] == task.request_id
    assert outputs[0]["status"] == "error"
    assert outputs[0]["exit_code"] == 137
    assert "killed" in outputs[0]["error"]
    status = await harness.store.status(worker_id)
    assert status is not None
    assert status.exit_code == 137
    assert await _key_revoked(harness, worker_id)
    await _left_nothing(harness, worker_id, handle)  # its input stream included, once reported
    assert len(await entries(harness.redis, "worker:developer:output")) == 1


async def test_a_po_worker_killed_mid_message_answers_its_user_once_with_an_error(
    harness: Harness,
) -> None:
    response = await harness.create(WorkerType.PO, harness.script({"sleep": 60}))
    assert response.worker_id is not None
    worker_id = response.worker_id
    message = POWorkerInput(user_id=harness.user_id, prompt="build me a thing")
    await harness.publisher.publish(f"worker:po:{worker_id}:input", message)
    await eventually(lambda: _busy(harness, worker_id))
    handle = await _handle(harness, worker_id)

    os.killpg(int(handle), signal.SIGKILL)

    await harness.reaches(worker_id, WorkerState.FAILED)
    [reply] = await entries(harness.redis, f"worker:po:{worker_id}:output")
    assert reply["request_id"] == message.request_id
    assert reply["correlation_id"] == message.correlation_id
    assert reply["user_id"] == harness.user_id
    assert (reply["is_final"], reply["worker_died"]) == (True, True)
    assert reply["text"] == "Sorry, my session stopped before I could answer your message."
    summary = await harness.redis.xpending(f"worker:po:{worker_id}:input", "po-worker")
    assert summary["pending"] == 0
    await _left_nothing(harness, worker_id, handle)


async def test_a_po_worker_created_with_the_session_of_a_deleted_one_continues_it(
    harness: Harness,
) -> None:
    script = harness.tmp / "two-turns.json"
    script.write_text(json.dumps({"turns": [{"reply": "turn one"}, {"reply": "turn two"}]}))
    first = await harness.create(WorkerType.PO, str(script))
    assert first.worker_id is not None
    opening = POWorkerInput(user_id=harness.user_id, prompt="I want a todo API")
    await harness.publisher.publish(f"worker:po:{first.worker_id}:input", opening)
    [before] = await eventually(
        lambda: entries(harness.redis, f"worker:po:{first.worker_id}:output")
    )
    session = before["session_id"]
    assert (before["text"], before["is_final"]) == ("turn one", True)
    assert session
    delete = DeleteWorkerCommand(worker_id=first.worker_id)
    await harness.publisher.publish("worker:commands", delete)
    assert (await harness.answer("worker:responses:po", delete.request_id)).success
    await _left_nothing(harness, first.worker_id, await _handle(harness, first.worker_id))

    # As the bot does for a user whose worker is gone: a new one, with the session it kept.
    second = await harness.create(WorkerType.PO, str(script), session_id=session)
    assert second.worker_id is not None
    follow_up = POWorkerInput(user_id=harness.user_id, prompt="with tags please")
    await harness.publisher.publish(f"worker:po:{second.worker_id}:input", follow_up)
    [after] = await eventually(
        lambda: entries(harness.redis, f"worker:po:{second.worker_id}:output")
    )

    assert (after["text"], after["session_id"]) == ("turn two", session)  # its second turn
    home = harness.workspaces / "po" / harness.user_id
    assert (home / "home" / ".scripted-agent" / f"{session}.json").is_file()
    assert (harness.workspaces / second.worker_id / "worker.log").is_file()


async def test_a_deleted_worker_is_stopped_its_status_kept_and_its_key_revoked(
    harness: Harness,
) -> None:
    response = await harness.create(WorkerType.PO)
    assert response.worker_id is not None
    worker_id = response.worker_id
    await eventually(lambda: _up(harness, worker_id))  # running, or paused already: idle
    handle = await _handle(harness, worker_id)

    delete = DeleteWorkerCommand(worker_id=worker_id)
    await harness.publisher.publish("worker:commands", delete)

    deleted = await harness.answer("worker:responses:po", delete.request_id)
    assert deleted.success is True
    assert deleted.status is not None
    assert deleted.status.state == WorkerState.STOPPED
    assert await _key_revoked(harness, worker_id)
    status = StatusWorkerCommand(worker_id=worker_id)
    await harness.publisher.publish("worker:commands", status)
    answer = await harness.answer("worker:responses:po", status.request_id)
    assert answer.command == "status"
    assert answer.status is not None
    assert answer.status.state == WorkerState.STOPPED
    await _left_nothing(harness, worker_id, handle)


@pytest.mark.parametrize("worker_type", [WorkerType.PO, WorkerType.DEVELOPER])
async def test_a_status_about_an_unknown_worker_is_answered_on_the_askers_stream(
    harness: Harness, worker_type: WorkerType
) -> None:
    command = StatusWorkerCommand(worker_id=f"{worker_type.value}-000000000000")
    await harness.publisher.publish("worker:commands", command)

    answer = await harness.answer(f"worker:responses:{worker_type.value}", command.request_id)

    assert answer.success is False
    assert answer.error == "no such worker"
    other = "developer" if worker_type is WorkerType.PO else "po"
    assert await answer_to(harness.redis, f"worker:responses:{other}", command.request_id) is None


async def test_a_status_names_the_stream_it_is_answered_on_with_reply_to(
    harness: Harness,
) -> None:
    command = StatusWorkerCommand(worker_id="po-000000000000", reply_to=WorkerType.DEVELOPER)
    await harness.publisher.publish("worker:commands", command)

    answer = await harness.answer("worker:responses:developer", command.request_id)

    assert answer.error == "no such worker"
    assert await answer_to(harness.redis, "worker:responses:po", command.request_id) is None


async def test_an_idle_worker_is_paused_and_woken_when_its_input_has_entries(
    harness: Harness,
) -> None:
    # The agent outlasts the 1 s task timeout for certain: the answer is the apology.
    response = await harness.create(WorkerType.PO, harness.script({"sleep": 30}))
    assert response.worker_id is not None
    worker_id = response.worker_id
    # Idle from its start (IDLE_TIMEOUT_S=2): RUNNING may last a single watch, so not waited for.
    await harness.reaches(worker_id, WorkerState.PAUSED)
    handle = await _handle(harness, worker_id)
    proc_status = await asyncio.to_thread(Path(f"/proc/{handle}/status").read_text)
    assert "State:\tT" in proc_status

    message = POWorkerInput(user_id=harness.user_id, prompt="are you there?")
    await harness.publisher.publish(f"worker:po:{worker_id}:input", message)

    [answer] = await eventually(lambda: entries(harness.redis, f"worker:po:{worker_id}:output"))
    assert answer["request_id"] == message.request_id
    assert answer["text"] == APOLOGY
    assert answer["is_final"] is True
    # Answered, it is idle again and paused again.
    await harness.reaches(worker_id, WorkerState.PAUSED)
    proc_status = await asyncio.to_thread(Path(f"/proc/{handle}/status").read_text)
    assert "State:\tT" in proc_status


async def test_stopped_events_for_a_live_worker_change_nothing_while_its_process_runs(
    harness: Harness,
) -> None:
    response = await harness.create(WorkerType.PO)
    assert response.worker_id is not None
    worker_id = response.worker_id
    await eventually(lambda: _up(harness, worker_id))
    for _ in range(10):
        await harness.publisher.publish(
            "worker:lifecycle",
            WorkerLifecycleEvent(
                worker_id=worker_id, event=LifecycleEventKind.STOPPED, exit_code=0, error="x"
            ),
        )

    await settled(harness.redis, "worker:lifecycle", "worker-manager")

    assert await harness.state(worker_id) in {WorkerState.RUNNING, WorkerState.PAUSED}
    assert worker_id in await harness.store.live()
    handle = await _handle(harness, worker_id)
    assert worker_processes(worker_id)
    # When it really ends, its exit code decides, not the claim (exit 0, STOPPED) it did not make.
    os.killpg(int(handle), signal.SIGKILL)
    await harness.reaches(worker_id, WorkerState.FAILED)
    status = await harness.store.status(worker_id)
    assert status is not None
    assert status.exit_code == 137


async def test_a_create_beyond_capacity_is_refused_with_a_clear_error(harness: Harness) -> None:
    first = await harness.create(WorkerType.PO)
    second = await harness.create(WorkerType.PO)
    third = await harness.create(WorkerType.PO)
    assert first.success
    assert second.success
    assert third.success is False
    assert third.error == "capacity reached: 2 of 2 workers are live"


async def test_a_redelivered_create_starts_one_worker(harness: Harness) -> None:
    first = await harness.create(WorkerType.PO, request_id="create-once")
    again = await harness.create(WorkerType.PO, request_id="create-once")
    assert first.worker_id == again.worker_id
    assert len(await harness.store.live()) == 1


async def _up(harness: Harness, worker_id: str) -> bool:
    """The wrapper has started: it keeps a heartbeat."""
    return bool(await harness.redis.exists(f"worker:heartbeat:{worker_id}"))


async def _busy(harness: Harness, worker_id: str) -> bool:
    beat = await harness.redis.get(f"worker:heartbeat:{worker_id}")
    return beat is not None and json.loads(beat)["state"] == "busy"


async def _left_nothing(harness: Harness, worker_id: str, handle: str) -> None:
    """An ended worker leaves no process, no workspace, no input stream if it was a developer
    worker (a PO worker's is kept), and keys that expire."""

    def cleaned() -> bool:
        gone = not worker_processes(worker_id) and not Path(f"/proc/{handle}").exists()
        return gone and not (harness.workspaces / worker_id).exists()

    async def cleaned_up() -> bool:
        if worker_id.startswith("developer-") and await harness.redis.exists(
            f"worker:developer:{worker_id}:input"
        ):
            return False
        return await asyncio.to_thread(cleaned)

    await eventually(cleaned_up)
    assert 0 < await harness.redis.ttl(f"worker:status:{worker_id}") <= STATUS_TTL_S
    assert await harness.redis.ttl(f"worker:heartbeat:{worker_id}") != -1  # gone or expiring


async def _key_revoked(harness: Harness, worker_id: str) -> bool:
    """The worker's key exists, is revoked, and worker-manager no longer holds it."""
    record = await harness.store.record(worker_id)
    headers = {"Authorization": f"Bearer {harness.api.service_key}"}
    async with httpx.AsyncClient(base_url=harness.api.url, headers=headers) as api:
        keys = (await api.get("/api/api-keys", params={"user_id": harness.user_id})).json()
    [key] = [k for k in keys if k["name"] == f"worker {worker_id}"]
    return record is not None and record.key_id is None and key["revoked_at"] is not None


async def _handle(harness: Harness, worker_id: str) -> str:
    record = await harness.store.record(worker_id)
    assert record is not None
    assert record.handle is not None
    return record.handle
