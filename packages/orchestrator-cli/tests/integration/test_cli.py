"""The orchestrator CLI end to end: real API, real Redis, in-process, Typer's runner, subprocess."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, cast

import pytest
import redis
from cli_testing import Worker, run_subprocess
from orchestrator_cli.app import COMMANDS, app
from orchestrator_cli.output import Outcome
from shared.contracts import DeployMessage, EngineeringMessage, POWorkerOutput
from shared.testing.servers import RedisServer, free_port
from typer.testing import CliRunner

Cli = Callable[..., tuple[dict[str, Any], int]]
MakeWorker = Callable[..., Worker]


def stream_messages(redis_url: str, stream: str) -> list[dict[str, str]]:
    with redis.Redis.from_url(redis_url, decode_responses=True) as client:
        entries = cast(list[tuple[str, dict[str, str]]], client.xrange(stream))
    return [fields for _, fields in entries]


def test_a_po_creates_a_project_and_starts_engineering_which_lands_in_the_queue(
    make_worker: MakeWorker, cli: Cli, redis_url: str
) -> None:
    worker = make_worker("PRODUCT_OWNER", CORRELATION_ID="corr-1")
    project, code = cli(
        worker,
        "project",
        "create",
        "--name",
        "todo-api",
        "--modules",
        "backend,frontend",
        "--description",
        "a todo list",
    )
    assert code == 0, project
    project_id = project["data"]["id"]
    assert project["data"]["modules"] == ["backend", "frontend"]
    assert project["data"]["owner_id"] == worker.user_id

    started, code = cli(
        worker, "engineering", "start", "--project", project_id, "--spec", "CRUD for todos"
    )
    assert code == 0, started
    task_id = started["data"]["task"]["id"]

    [entry] = stream_messages(redis_url, "engineering:queue")
    message = EngineeringMessage.model_validate_json(entry["data"])
    assert list(entry) == ["data"]
    assert (message.task_id, message.project_id, message.user_id) == (
        task_id,
        project_id,
        worker.user_id,
    )
    assert message.callback_stream == f"task_progress:{task_id}"
    assert message.correlation_id == "corr-1"
    assert message.request_id == task_id

    status, code = cli(worker, "engineering", "status", task_id)
    assert code == 0
    assert status["data"]["status"] == "queued"
    assert status["data"]["spec"] == "CRUD for todos"
    tasks, _ = cli(worker, "project", "tasks", project_id)
    assert [t["id"] for t in tasks["data"]] == [task_id]


def test_deploy_start_queues_a_deploy_message(
    make_worker: MakeWorker, cli: Cli, redis_url: str
) -> None:
    worker = make_worker("PRODUCT_OWNER")
    project, _ = cli(worker, "project", "create", "--name", "shop", "--modules", "backend")
    started, code = cli(worker, "deploy", "start", "--project", project["data"]["id"])
    assert code == 0, started
    [entry] = stream_messages(redis_url, "deploy:queue")
    message = DeployMessage.model_validate_json(entry["data"])
    assert message.task_id == started["data"]["task"]["id"]
    deploy_status, _ = cli(worker, "deploy", "status", message.task_id)
    assert deploy_status["data"]["type"] == "deploy"


def test_deploy_start_ships_the_commit_it_is_given(
    make_worker: MakeWorker, cli: Cli, redis_url: str
) -> None:
    worker = make_worker("DEVOPS")
    with worker.service() as service:
        project = service.post(
            "/api/projects", json={"name": "pinned", "modules": ["web"], "owner_id": worker.user_id}
        ).json()
    sha = "0123456789abcdef0123456789abcdef01234567"
    started, code = cli(worker, "deploy", "start", "--project", project["id"], "--commit-sha", sha)
    assert code == 0, started
    [entry] = stream_messages(redis_url, "deploy:queue")
    assert DeployMessage.model_validate_json(entry["data"]).commit_sha == sha


def test_a_bad_commit_sha_is_a_json_error_naming_it_and_creates_no_task(
    make_worker: MakeWorker, cli: Cli, redis_url: str
) -> None:
    worker = make_worker("PRODUCT_OWNER")
    project, _ = cli(worker, "project", "create", "--name", "badsha", "--modules", "backend")
    project_id = project["data"]["id"]
    refused, code = cli(worker, "deploy", "start", "--project", project_id, "--commit-sha", "HEAD")
    tasks, _ = cli(worker, "project", "tasks", project_id)
    assert code == 2
    assert refused["error"] == "InvalidArguments"
    assert refused["details"]["field"] == "commit_sha"
    assert tasks["data"] == []
    assert stream_messages(redis_url, "deploy:queue") == []


@pytest.mark.parametrize("kind", ["engineering", "deploy"])
def test_cancel_marks_the_task_cancelled_through_the_api_and_publishes_nothing(
    make_worker: MakeWorker, cli: Cli, redis_url: str, kind: str
) -> None:
    worker = make_worker("PRODUCT_OWNER")
    project, _ = cli(worker, "project", "create", "--name", "cancel-me", "--modules", "backend")
    spec = ["--spec", "x"] if kind == "engineering" else []
    started, _ = cli(worker, kind, "start", "--project", project["data"]["id"], *spec)
    task_id = started["data"]["task"]["id"]
    queued = stream_messages(redis_url, f"{kind}:queue")

    cancelled, code = cli(worker, kind, "cancel", "--task-id", task_id)
    again, again_code = cli(worker, kind, "cancel", "--task-id", task_id)

    assert code == 0, cancelled
    assert cancelled["data"]["id"] == task_id
    assert cancelled["data"]["status"] == "cancelled"
    assert cancelled["data"]["finished_at"] is not None
    assert (again_code, again["data"]["status"]) == (0, "cancelled")  # cancelling twice is fine
    assert stream_messages(redis_url, f"{kind}:queue") == queued
    with worker.service() as service:
        assert service.get(f"/api/tasks/{task_id}").json()["status"] == "cancelled"
        asked = service.get("/api/tasks", params={"status": "cancelled", "id": [task_id]})
    assert [t["id"] for t in asked.json()] == [task_id]


def test_cancelling_a_finished_task_is_the_apis_conflict_as_json(
    make_worker: MakeWorker, cli: Cli
) -> None:
    worker = make_worker("PRODUCT_OWNER")
    project, _ = cli(worker, "project", "create", "--name", "finished", "--modules", "backend")
    started, _ = cli(
        worker, "engineering", "start", "--project", project["data"]["id"], "--spec", "x"
    )
    task_id = started["data"]["task"]["id"]
    with worker.service() as service:
        service.patch(f"/api/tasks/{task_id}", json={"status": "completed"})

    result = run_subprocess(worker.env, "engineering", "cancel", "--task-id", task_id)

    body = json.loads(result.stdout)
    assert result.returncode == 5
    assert body["error"] == "Conflict"
    assert body["details"]["status"] == 409
    assert body["details"]["response"]["context"] == {
        "status": "completed",
        "refused": "cancelled",
    }
    assert "Traceback" not in result.stdout + result.stderr
    assert len(result.stdout.splitlines()) == 1


def test_cancel_refuses_a_task_of_the_other_kind_and_another_users_task(
    make_worker: MakeWorker, cli: Cli
) -> None:
    worker = make_worker("PRODUCT_OWNER")
    project, _ = cli(worker, "project", "create", "--name", "kinds", "--modules", "backend")
    started, _ = cli(
        worker, "engineering", "start", "--project", project["data"]["id"], "--spec", "x"
    )
    task_id = started["data"]["task"]["id"]

    wrong_kind, wrong_code = cli(worker, "deploy", "cancel", "--task-id", task_id)
    foreign, foreign_code = cli(
        make_worker("PRODUCT_OWNER"), "engineering", "cancel", "--task-id", task_id
    )
    status, _ = cli(worker, "engineering", "status", task_id)

    assert (wrong_code, wrong_kind["error"]) == (2, "InvalidArguments")
    assert wrong_kind["details"] == {"field": "task_id", "type": "engineering"}
    assert (foreign_code, foreign["error"]) == (4, "NotFound")
    assert status["data"]["status"] == "queued"


def test_respond_publishes_to_the_workers_own_output_stream(
    make_worker: MakeWorker, cli: Cli, redis_url: str
) -> None:
    worker = make_worker("DEVELOPER", WORKER_ID="po-7", REQUEST_ID="req-42")
    answer, code = cli(worker, "respond", "--message", "Your API is being built.")
    assert code == 0, answer
    [entry] = stream_messages(redis_url, "worker:po:po-7:output")
    output = POWorkerOutput.model_validate_json(entry["data"])
    assert (output.text, output.user_id, output.is_final) == (
        "Your API is being built.",
        worker.user_id,
        False,
    )
    assert output.request_id.startswith("req-42:respond:")  # never the turn's final answer
    assert answer["data"]["request_id"] == output.request_id


def test_the_typer_runner_drives_the_same_commands(make_worker: MakeWorker) -> None:
    worker = make_worker("PRODUCT_OWNER")
    runner = CliRunner()
    created = runner.invoke(
        app,
        ["project", "create", "--name", "via-runner", "--modules", "backend"],
        env=worker.env,
        standalone_mode=False,
    )
    listed = runner.invoke(app, ["project", "list"], env=worker.env, standalone_mode=False)
    assert isinstance(created.return_value, Outcome), created.output
    assert isinstance(listed.return_value, Outcome)
    assert [p["name"] for p in listed.return_value.payload["data"]] == ["via-runner"]


def test_the_console_script_prints_one_json_object_and_exits_zero(
    make_worker: MakeWorker,
) -> None:
    worker = make_worker("PRODUCT_OWNER")
    result = run_subprocess(worker.env, "project", "create", "--name", "sub", "--modules", "web")
    listed = run_subprocess(worker.env, "project", "list")
    assert result.returncode == 0, result.stderr
    assert len(listed.stdout.splitlines()) == 1
    assert json.loads(listed.stdout)["data"][0]["name"] == "sub"
    assert worker.env["API_KEY"] not in result.stdout + result.stderr + listed.stdout


def test_an_api_that_is_down_gives_a_json_error_and_a_nonzero_exit(
    make_worker: MakeWorker,
) -> None:
    worker = make_worker("PRODUCT_OWNER", API_URL=f"http://127.0.0.1:{free_port()}")
    result = run_subprocess(worker.env, "project", "list")
    body = json.loads(result.stdout)
    assert result.returncode == 7
    assert body["error"] == "ApiUnavailable"
    assert "Traceback" not in result.stdout


@pytest.mark.redis_restart
def test_a_task_is_not_left_queued_when_redis_is_down(
    make_worker: MakeWorker, cli: Cli, restartable_redis: RedisServer
) -> None:
    worker = make_worker("PRODUCT_OWNER")
    project, _ = cli(worker, "project", "create", "--name", "orphan", "--modules", "backend")

    restartable_redis.stop()
    try:
        started, code = cli(
            worker, "engineering", "start", "--project", project["data"]["id"], "--spec", "x"
        )
    finally:
        restartable_redis.start()

    assert code == 9
    assert started["error"] == "PublishFailed"
    assert started["details"]["task_status"] == "cancelled"
    task, _ = cli(worker, "engineering", "status", started["details"]["task_id"])
    assert task["data"]["status"] == "cancelled"
    assert task["data"]["error"].startswith("could not queue: Redis")


def test_wait_returns_the_final_task_once_another_actor_finishes_it(
    make_worker: MakeWorker, cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = make_worker("PRODUCT_OWNER")
    project, _ = cli(worker, "project", "create", "--name", "waiting", "--modules", "backend")
    started, _ = cli(
        worker, "engineering", "start", "--project", project["data"]["id"], "--spec", "x"
    )
    task_id = started["data"]["task"]["id"]
    pauses: list[float] = []

    def another_actor_finishes_it_during_the_first_pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 1:
            with worker.service() as service:
                service.patch(f"/api/tasks/{task_id}", json={"status": "completed"})

    with monkeypatch.context() as patched:
        patched.setattr(time, "sleep", another_actor_finishes_it_during_the_first_pause)
        waited, code = cli(worker, "engineering", "wait", task_id, "--timeout", "20")
    foreign, foreign_code = cli(
        make_worker("PRODUCT_OWNER"), "engineering", "wait", task_id, "--timeout", "0"
    )

    assert code == 0
    assert pauses == [0.5], "it polled, paused once, and saw the task finished"
    assert waited["data"]["status"] == "completed"
    assert (foreign_code, foreign["error"]) == (4, "NotFound")  # another user's task


def test_wait_times_out_with_the_last_state(make_worker: MakeWorker, cli: Cli) -> None:
    worker = make_worker("PRODUCT_OWNER")
    project, _ = cli(worker, "project", "create", "--name", "slow", "--modules", "backend")
    started, _ = cli(
        worker, "engineering", "start", "--project", project["data"]["id"], "--spec", "x"
    )
    waited, code = cli(
        worker, "engineering", "wait", started["data"]["task"]["id"], "--timeout", "1"
    )
    assert code == 10
    assert waited["error"] == "Timeout"
    assert waited["details"]["task"]["status"] == "queued"


def test_diagnose_reports_api_redis_and_inconsistent_projects(
    make_worker: MakeWorker, cli: Cli
) -> None:
    worker = make_worker("PRODUCT_OWNER")
    project, _ = cli(worker, "project", "create", "--name", "stuck", "--modules", "backend")
    resting, _ = cli(worker, "project", "create", "--name", "resting", "--modules", "backend")
    with worker.service() as service:
        service.patch(f"/api/projects/{project['data']['id']}", json={"status": "scaffolding"})
        for status in ["scaffolding", "scaffolded", "developing", "testing", "ready"]:
            moved = service.patch(f"/api/projects/{resting['data']['id']}", json={"status": status})
            assert moved.status_code == 200, moved.text

    api_report, api_code = cli(worker, "diagnose", "api")
    redis_report, redis_code = cli(worker, "diagnose", "redis")
    projects_report, _ = cli(worker, "diagnose", "projects")

    assert api_code == 0
    assert api_report["data"]["health"]["database"] == "ok"
    assert redis_code == 0
    assert redis_report["data"]["redis_version"]
    assert [p["project_id"] for p in projects_report["data"]["problems"]] == [
        project["data"]["id"]
    ]  # the ready one rests
    assert projects_report["data"]["problems"] == [
        {
            "project_id": project["data"]["id"],
            "name": "stuck",
            "status": "scaffolding",
            "problem": "scaffolding but no engineering task is queued or running",
        }
    ]


def test_an_unknown_key_is_an_api_error_not_a_crash(make_worker: MakeWorker, cli: Cli) -> None:
    worker = make_worker("PRODUCT_OWNER", API_KEY="cgo_wrong")
    body, code = cli(worker, "project", "list")
    assert code == 6
    assert body["error"] == "ApiError"
    assert body["details"]["status"] == 401


ARGS: dict[str, list[str]] = {
    "project.create": ["project", "create", "--name", "perm", "--modules", "backend"],
    "project.list": ["project", "list"],
    "project.get": ["project", "get", "0" * 32],
    "project.tasks": ["project", "tasks", "0" * 32],
    "engineering.start": ["engineering", "start", "--project", "0" * 32, "--spec", "s"],
    "engineering.status": ["engineering", "status", "0" * 32],
    "engineering.wait": ["engineering", "wait", "0" * 32, "--timeout", "0"],
    "engineering.cancel": ["engineering", "cancel", "--task-id", "0" * 32],
    "deploy.start": ["deploy", "start", "--project", "0" * 32],
    "deploy.status": ["deploy", "status", "0" * 32],
    "deploy.cancel": ["deploy", "cancel", "--task-id", "0" * 32],
    "infra.servers": ["infra", "servers"],
    "infra.incidents": ["infra", "incidents"],
    "respond": ["respond", "--message", "hi"],
    "diagnose.api": ["diagnose", "api"],
    "diagnose.redis": ["diagnose", "redis"],
    "diagnose.projects": ["diagnose", "projects"],
}
PROFILE_GRANTS = {
    "PRODUCT_OWNER": set(COMMANDS),
    "DEVELOPER": {"project.get", "project.list", "engineering.status", "respond"},
    "DEVOPS": {
        "project.get",
        "deploy.start",
        "deploy.status",
        "deploy.cancel",
        "infra.servers",
        "infra.incidents",
        "respond",
    },
    None: set(),
}


def test_every_command_has_arguments_in_the_matrix() -> None:
    assert set(ARGS) == set(COMMANDS)


@pytest.mark.parametrize("profile", list(PROFILE_GRANTS), ids=str)
def test_the_permission_matrix_holds_for_every_command_and_profile(
    make_worker: MakeWorker, cli: Cli, profile: str | None
) -> None:
    worker = make_worker(profile)
    for command, argv in ARGS.items():
        body, code = cli(worker, *argv)
        denied = body.get("error") == "PermissionDenied"
        assert denied is (command not in PROFILE_GRANTS[profile]), (command, body)
        if denied:
            assert code == 3
            assert body["details"]["command"] == command
