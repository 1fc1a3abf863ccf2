"""The commands' effects, as plain functions of their inputs and ports."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from orchestrator_cli.config import CliConfig
from orchestrator_cli.errors import CliError, InvalidArguments, PublishFailed, Timeout
from orchestrator_cli.ports import Api, Queue

TERMINAL = ("completed", "failed", "cancelled")
WORKING = ("queued", "running")
TASK_ID = re.compile(r"[0-9a-f]{32}")  # the API's ids (docs/API.md)
# An interim reply's id: this much of the turn's, ":respond:" and 16 hex digits (128 at most).
RESPOND_ID_BASE = 103


def create_project(
    name: str, modules: list[str], description: str, *, api: Api, config: CliConfig
) -> Any:
    body: dict[str, Any] = {"name": name, "modules": modules, "description": description}
    if config.user_id:
        body["owner_id"] = config.user_id
    return api.post("/api/projects", body)


def start_task(
    kind: str,
    project_id: str,
    spec: str,
    *,
    api: Api,
    queue: Queue,
    config: CliConfig,
    commit_sha: str | None = None,
) -> dict[str, Any]:
    """Create the task, then queue it; a task that cannot be queued is cancelled, with the reason.

    A deploy may name the commit to ship (`commit_sha`); it is checked before the task exists.
    """
    from shared.contracts import DeployMessage, EngineeringMessage
    from shared.streams.registry import DEPLOY_QUEUE, ENGINEERING_QUEUE, TASK_PROGRESS

    fields: dict[str, Any] = {}
    if commit_sha is not None:
        fields["commit_sha"] = _commit_sha(commit_sha)
    if config.correlation_id:
        fields["correlation_id"] = config.correlation_id
    project = api.get(f"/api/projects/{project_id}")
    task: dict[str, Any] = api.post(
        "/api/tasks", {"project_id": project_id, "type": kind, "spec": spec}
    )
    message_type, stream = (
        (EngineeringMessage, ENGINEERING_QUEUE.pattern)
        if kind == "engineering"
        else (DeployMessage, DEPLOY_QUEUE.pattern)
    )
    message = message_type(
        request_id=task["id"],
        task_id=task["id"],
        project_id=project_id,
        user_id=config.user_id or project["owner_id"],
        callback_stream=TASK_PROGRESS.name(task_id=task["id"]),
        **fields,
    )
    try:
        entry_id = queue.publish(stream, message)
    except CliError as exc:
        details: dict[str, Any] = {"task_id": task["id"], "cause": exc.kind}
        try:
            api.patch(
                f"/api/tasks/{task['id']}",
                {"status": "cancelled", "error": f"could not queue: {exc.message}"},
            )
            details["task_status"] = "cancelled"
        except CliError as marking:
            details["task_status"] = "unknown"
            details["marking_error"] = marking.message
        raise PublishFailed(
            f"the task was created but could not be queued: {exc.message}", details
        ) from None
    return {
        "task": task,
        "stream": stream,
        "entry_id": entry_id,
        "progress_stream": message.callback_stream,
    }


def _commit_sha(value: str) -> str:
    from pydantic import TypeAdapter, ValidationError
    from shared.contracts.base import CommitSha

    try:
        sha: str = TypeAdapter(CommitSha).validate_python(value)
    except ValidationError:
        raise InvalidArguments(
            f"--commit-sha must be a commit's hexadecimal sha (4-64 lower-case hex digits), "
            f"not {value!r}",
            {"field": "commit_sha", "value": value},
        ) from None
    return sha


def cancel_task(kind: str, task_id: str, *, api: Api) -> Any:
    """Mark a task of this kind cancelled; the flow running it notices by asking the API.

    Nothing is published. An already finished task is the API's 409 (Conflict).
    """
    if not TASK_ID.fullmatch(task_id):
        raise InvalidArguments(
            f"--task-id must be a task's id (32 hex characters), not {task_id!r}",
            {"field": "task_id"},
        )
    task = api.get(f"/api/tasks/{task_id}")
    if task["type"] != kind:
        raise InvalidArguments(
            f"task {task_id} is a {task['type']} task, not a {kind} task",
            {"field": "task_id", "type": task["type"]},
        )
    return api.patch(f"/api/tasks/{task_id}", {"status": "cancelled"})


def wait_for_task(
    task_id: str,
    timeout_s: float,
    *,
    api: Api,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] | None = None,
) -> Any:
    """Poll with backoff (0.5 s doubling to 5 s) until the task ends or the time is up."""
    sleep = sleep or time.sleep  # looked up per call, so a test can step in between polls
    deadline = clock() + timeout_s
    delay = 0.5
    while True:
        task = api.get(f"/api/tasks/{task_id}")
        if task["status"] in TERMINAL:
            return task
        remaining = deadline - clock()
        if remaining <= 0:
            raise Timeout(
                f"task {task_id} is still {task['status']} after {timeout_s:g}s", {"task": task}
            )
        sleep(min(delay, remaining))
        delay = min(delay * 2, 5.0)


def respond(text: str, *, queue: Queue, config: CliConfig) -> dict[str, Any]:
    """An interim message for the user during the PO's turn (`is_final` false): the wrapper
    publishes the turn's final answer itself, and leaves out what was already sent here."""
    from shared.contracts import POWorkerOutput
    from shared.streams.registry import PO_OUTPUT

    stream = PO_OUTPUT.name(worker_id=config.require("worker_id"))
    meta: dict[str, Any] = {}
    if config.request_id:
        meta["request_id"] = interim_request_id(config.request_id, text)
    if config.correlation_id:
        meta["correlation_id"] = config.correlation_id
    message = POWorkerOutput(user_id=config.require("user_id"), text=text, is_final=False, **meta)
    return {
        "stream": stream,
        "entry_id": queue.publish(stream, message),
        "request_id": message.request_id,
    }


def interim_request_id(request_id: str, text: str) -> str:
    """`<the turn's request id>:respond:<digest of the words>`: the turn's own id stays the
    final answer's, and the same words sent twice in a turn are one request (the bot shows a
    request once). Ids are at most 128 characters: a long turn id is cut to fit."""
    import hashlib

    words = " ".join(text.split())
    digest = hashlib.sha256(words.encode()).hexdigest()[:16]
    return f"{request_id[:RESPOND_ID_BASE]}:respond:{digest}"


def diagnose_api(*, api: Api, config: CliConfig) -> dict[str, Any]:
    started = time.perf_counter()
    health = api.get("/health")
    latency_ms = round((time.perf_counter() - started) * 1000, 1)
    api.get("/api/projects", limit=1)  # raises if the key is refused
    return {
        "api_url": config.api_url,
        "health": health,
        "authenticated": True,
        "latency_ms": latency_ms,
    }


def diagnose_redis(*, queue: Queue, config: CliConfig) -> dict[str, Any]:
    report = queue.ping(["engineering:queue", "deploy:queue"])
    return {"redis_url": _without_password(config.redis_url), **report}


def diagnose_projects(*, api: Api) -> dict[str, Any]:
    """Projects whose status and tasks disagree."""
    projects = api.get("/api/projects", limit=500)
    problems = []
    for project in projects:
        tasks = api.get("/api/tasks", project_id=project["id"], limit=500)
        problem = project_problem(project["status"], tasks)
        if problem:
            problems.append(
                {
                    "project_id": project["id"],
                    "name": project["name"],
                    "status": project["status"],
                    "problem": problem,
                }
            )
    return {"checked": len(projects), "problems": problems}


def project_problem(status: str, tasks: list[dict[str, Any]]) -> str | None:
    """Why a project's status and its tasks disagree, or None. `ready` and `active` are resting
    states: they need no working task (and may have one)."""
    working = {t["type"] for t in tasks if t["status"] in WORKING}
    if status in ("scaffolding", "developing", "testing") and "engineering" not in working:
        return f"{status} but no engineering task is queued or running"
    if status == "deploying" and "deploy" not in working:
        return "deploying but no deploy task is queued or running"
    if status in ("archived", "failed") and working:
        return f"{status} but tasks are still queued or running"
    return None


def _without_password(url: str) -> str:
    from shared.logging import scrub_text

    return scrub_text(url)
