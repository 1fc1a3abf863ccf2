"""worker:commands: create, delete and status, each answered on the worker type's stream (the
command's `reply_to` if it names one; for a worker nobody knows, the type its id names)."""

from __future__ import annotations

import os
from pathlib import Path

import structlog
from shared.contracts import (
    CreateWorkerCommand,
    DeleteWorkerCommand,
    StatusWorkerCommand,
    WorkerResponse,
    WorkerState,
    WorkerType,
)
from shared.streams import Outcome

from worker_manager.bootstrap import Container
from worker_manager.domain.status import FINAL, new_worker_id, worker_type_of
from worker_manager.ports import WorkerSpec

log = structlog.get_logger("worker_manager")

DELETED = "the worker was deleted"
RESPONSES = {
    WorkerType.PO: "worker:responses:po",
    WorkerType.DEVELOPER: "worker:responses:developer",
}


async def handle_command(
    command: CreateWorkerCommand | DeleteWorkerCommand | StatusWorkerCommand, *, deps: Container
) -> None:
    if isinstance(command, CreateWorkerCommand):
        response, worker_type = await create_worker(command, deps=deps), command.config.worker_type
    else:
        record = await deps.store.record(command.worker_id)
        worker_type = command.reply_to or worker_type_of(
            command.worker_id, record.get("worker_type")
        )
        if isinstance(command, DeleteWorkerCommand):
            response = await delete_worker(command, deps=deps)
        else:
            response = await worker_status(command, deps=deps)
    await deps.publisher.publish(RESPONSES[worker_type], response)


def _response(
    command_name: str, request_id: str, correlation_id: str, **fields: object
) -> WorkerResponse:
    return WorkerResponse.model_validate(
        {
            "command": command_name,
            "request_id": request_id,
            "correlation_id": correlation_id,
            **fields,
        }
    )


async def create_worker(command: CreateWorkerCommand, *, deps: Container) -> WorkerResponse:
    """Start a worker once per request; a redelivered request gets the same worker back."""
    mapping = f"worker:created-by:{command.request_id}"

    async def create() -> str | None:
        worker_id, error = await _spawn(command, deps)
        if worker_id:
            await deps.redis.set(mapping, worker_id, ex=7 * 24 * 3600)
        return worker_id or f"error:{error}"

    outcome, value = await deps.idempotency.run_once("worker-create", command.request_id, create)
    if outcome is Outcome.ALREADY_DONE:
        value = str(await deps.redis.get(mapping) or "error:the earlier attempt failed")
    assert value is not None
    if value.startswith("error:"):
        return _response(
            "create",
            command.request_id,
            command.correlation_id,
            success=False,
            error=value.removeprefix("error:"),
        )
    status = await deps.store.status(value)
    return _response(
        "create",
        command.request_id,
        command.correlation_id,
        success=True,
        worker_id=value,
        status=status,
    )


async def _spawn(command: CreateWorkerCommand, deps: Container) -> tuple[str | None, str]:
    settings, config = deps.settings, command.config
    live = await deps.store.live()
    if len(live) >= settings.max_workers:
        return None, f"capacity reached: {len(live)} of {settings.max_workers} workers are live"
    worker_id = new_worker_id(config.worker_type)
    context = command.context
    user_id = context.get("user_id", "")
    key_id, key = ("", "")
    if user_id:
        try:
            key_id, key = await deps.keys.create(user_id, worker_id, settings.worker_key_ttl_s)
        except Exception as exc:
            return None, f"could not get an API key for the worker: {exc}"
    workspace = deps.workspace_root / worker_id
    env = _worker_env(command, deps, worker_id, key, workspace)
    await deps.store.create(
        worker_id,
        config.worker_type,
        key_id=key_id,
        user_id=user_id,
        agent_type=config.agent_type.value,
        created_by=command.request_id,
        current_task_id=context.get("task_id", ""),
        project_id=context.get("project_id", ""),
    )
    labels = {
        "codegen.worker-id": worker_id,
        "codegen.worker-type": config.worker_type.value,
        "codegen.project-id": context.get("project_id", ""),
        "codegen.task-id": context.get("task_id", ""),
    }
    try:
        handle = await deps.backend.start(WorkerSpec(worker_id, config, env, workspace, labels))
    except Exception as exc:
        log.exception("could not start a worker", worker_id=worker_id)
        await deps.store.update(worker_id, WorkerState.FAILED, error=f"could not start: {exc}")
        if key_id:
            await deps.keys.revoke(key_id)
        return None, f"could not start the worker: {exc}"
    await deps.store.update(worker_id, handle=handle)
    log.info("worker started", worker_id=worker_id, handle=handle)
    return worker_id, ""


def _worker_env(
    command: CreateWorkerCommand, deps: Container, worker_id: str, key: str, workspace: Path
) -> dict[str, str]:
    settings, config, context = deps.settings, command.config, command.context
    passthrough = [n.strip() for n in settings.worker_env_passthrough.split(",") if n.strip()]
    env = {
        name: os.environ[name]
        for name in ("PATH", "LANG", "TZ", *passthrough)
        if name in os.environ
    }
    env.update(config.env_vars)
    env.update(
        WORKER_ID=worker_id,
        WORKER_TYPE=config.worker_type.value,
        AGENT_TYPE=config.agent_type.value,
        REDIS_URL=settings.redis_url,
        API_URL=settings.api_url,
        API_KEY=key,
        ALLOWED_COMMANDS=config.allowed_commands,
        INSTRUCTIONS=config.instructions,
        WORKSPACE_DIR=str(workspace),
        AGENT_TIMEOUT_S=str(settings.task_timeout_s),
        HOME=str(workspace / "home"),
    )
    for name in ("user_id", "session_id"):
        if context.get(name):
            env[name.upper()] = context[name]
    return env


async def delete_worker(command: DeleteWorkerCommand, *, deps: Container) -> WorkerResponse:
    """Stop and remove the worker; its status stays (STOPPED) for clients to read."""
    record = await deps.store.record(command.worker_id)
    if not record:
        return _response(
            "delete",
            command.request_id,
            command.correlation_id,
            success=False,
            worker_id=command.worker_id,
            error="no such worker",
        )
    exit_code: int | None = None
    if WorkerState(record["state"]) not in FINAL and record.get("handle"):
        # Marked first: whoever sees the worker end (a watcher, another replica) ends it STOPPED.
        await deps.store.update(command.worker_id, deleting="1")
        exit_code = await deps.backend.stop(record["handle"], deps.settings.stop_grace_s)
        await deps.unfinished.report(
            command.worker_id, WorkerType(record["worker_type"]), DELETED, exit_code
        )
    await revoke_key(command.worker_id, deps=deps)
    if WorkerState(record["state"]) not in FINAL:
        await deps.store.update(command.worker_id, WorkerState.STOPPED, exit_code=exit_code)
    return _response(
        "delete",
        command.request_id,
        command.correlation_id,
        success=True,
        worker_id=command.worker_id,
        status=await deps.store.status(command.worker_id),
    )


async def worker_status(command: StatusWorkerCommand, *, deps: Container) -> WorkerResponse:
    status = await deps.store.status(command.worker_id)
    if status is None:
        return _response(
            "status",
            command.request_id,
            command.correlation_id,
            success=False,
            worker_id=command.worker_id,
            error="no such worker",
        )
    return _response(
        "status",
        command.request_id,
        command.correlation_id,
        success=True,
        worker_id=command.worker_id,
        status=status,
    )


async def revoke_key(worker_id: str, *, deps: Container) -> None:
    record = await deps.store.record(worker_id)
    if record.get("key_id"):
        try:
            await deps.keys.revoke(record["key_id"])
        except Exception:
            log.exception(
                "could not revoke a worker's key; it expires on its own", worker_id=worker_id
            )
            return
        await deps.store.update(worker_id, key_id="")
