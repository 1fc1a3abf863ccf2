"""worker:commands: create, delete and status, each answered on the worker type's stream (the
command's `reply_to` if it names one; for a worker nobody knows, the type its id names)."""

from __future__ import annotations

import asyncio

import structlog
from shared.contracts import (
    CreateWorkerCommand,
    DeleteWorkerCommand,
    StatusWorkerCommand,
    WorkerResponse,
    WorkerState,
    WorkerType,
)
from shared.permissions import commands_allowed, redis_rights_for, scopes_for
from shared.secrets import SecretUnavailable
from shared.streams.registry import WORKER_RESPONSES_DEVELOPER, WORKER_RESPONSES_PO

from worker_manager.domain.endings import revoke_key
from worker_manager.domain.environment import (
    REPOSITORY,
    WorkerLaunch,
    context_error,
    home_owner,
    secrets_error,
    worker_env,
    worker_labels,
)
from worker_manager.domain.status import DELETED, new_worker_id, worker_type_of
from worker_manager.ports import (
    Created,
    Creations,
    ForgeTokens,
    Publisher,
    Secrets,
    StatusStore,
    UnfinishedWork,
    UserHome,
    WorkerAccess,
    WorkerBackend,
    WorkerKeys,
    WorkerSpec,
    Workspaces,
)

log = structlog.get_logger("worker_manager")

RESPONSES = {
    WorkerType.PO: WORKER_RESPONSES_PO.pattern,
    WorkerType.DEVELOPER: WORKER_RESPONSES_DEVELOPER.pattern,
}


async def handle_command(
    command: CreateWorkerCommand | DeleteWorkerCommand | StatusWorkerCommand,
    *,
    store: StatusStore,
    backend: WorkerBackend,
    keys: WorkerKeys,
    access: WorkerAccess,
    secrets: Secrets,
    forge: ForgeTokens,
    creations: Creations,
    unfinished: UnfinishedWork,
    workspaces: Workspaces,
    publisher: Publisher,
    launch: WorkerLaunch,
    max_workers: int,
    worker_key_ttl_s: int,
    stop_grace_s: float,
) -> None:
    if isinstance(command, CreateWorkerCommand):
        response = await create_worker(
            command,
            store=store,
            backend=backend,
            keys=keys,
            access=access,
            secrets=secrets,
            forge=forge,
            creations=creations,
            workspaces=workspaces,
            launch=launch,
            max_workers=max_workers,
            worker_key_ttl_s=worker_key_ttl_s,
        )
        worker_type = command.config.worker_type
    else:
        record = await store.record(command.worker_id)
        known = record.worker_type if record else worker_type_of(command.worker_id)
        worker_type = command.reply_to or known
        if isinstance(command, DeleteWorkerCommand):
            response = await delete_worker(
                command,
                store=store,
                backend=backend,
                keys=keys,
                unfinished=unfinished,
                stop_grace_s=stop_grace_s,
            )
        else:
            response = await worker_status(command, store=store)
    await publisher.publish(RESPONSES[worker_type], response)


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


async def create_worker(
    command: CreateWorkerCommand,
    *,
    store: StatusStore,
    backend: WorkerBackend,
    keys: WorkerKeys,
    access: WorkerAccess,
    secrets: Secrets,
    forge: ForgeTokens,
    creations: Creations,
    workspaces: Workspaces,
    launch: WorkerLaunch,
    max_workers: int,
    worker_key_ttl_s: int,
) -> WorkerResponse:
    """Start a worker once per request; a redelivered request gets the same worker back."""

    async def start() -> Created:
        return await _spawn(
            command,
            store=store,
            backend=backend,
            keys=keys,
            access=access,
            secrets=secrets,
            forge=forge,
            workspaces=workspaces,
            launch=launch,
            max_workers=max_workers,
            worker_key_ttl_s=worker_key_ttl_s,
        )

    created = await creations.once(command.request_id, start)
    if created.worker_id is None:
        return _response(
            "create", command.request_id, command.correlation_id, success=False, error=created.error
        )
    return _response(
        "create",
        command.request_id,
        command.correlation_id,
        success=True,
        worker_id=created.worker_id,
        status=await store.status(created.worker_id),
    )


async def _spawn(
    command: CreateWorkerCommand,
    *,
    store: StatusStore,
    backend: WorkerBackend,
    keys: WorkerKeys,
    access: WorkerAccess,
    secrets: Secrets,
    forge: ForgeTokens,
    workspaces: Workspaces,
    launch: WorkerLaunch,
    max_workers: int,
    worker_key_ttl_s: int,
) -> Created:
    config, context = command.config, command.context
    refused = context_error(context) or secrets_error(config)
    if refused:
        return Created(None, refused)
    live = await store.live()
    if len(live) >= max_workers:
        return Created(None, f"capacity reached: {len(live)} of {max_workers} workers are live")
    # Before anything is made: a reference that names nothing refuses the create whole.
    agent_secrets: dict[str, str] = {}
    for name, ref in sorted(config.secrets.items()):
        try:
            agent_secrets[name] = await asyncio.to_thread(secrets.resolve, ref)
        except SecretUnavailable as exc:
            return Created(None, f"secrets.{name} cannot be resolved: {exc}")
    worker_id = new_worker_id(config.worker_type)
    # Before its Redis users: the watcher deletes users no worker record explains, and the
    # record is written only once everything is ready.
    git_token: str | None = None
    repository = context.get(REPOSITORY)
    if config.worker_type is WorkerType.DEVELOPER and repository:
        try:
            git_token = await forge.mint(worker_id, repository)
        except Exception as exc:
            log.exception("could not get a forge token", worker_id=worker_id)
            return Created(None, f"could not get a forge token for the worker: {exc}")
    user_id = context.get("user_id", "")
    # The agent's key and Redis user carry exactly what its commands need (docs/SECURITY.md).
    commands = commands_allowed(config.allowed_commands)
    key_id, key = ("", "")
    if user_id:
        try:
            key_id, key = await keys.create(
                user_id, worker_id, worker_key_ttl_s, scopes_for(commands)
            )
        except Exception as exc:
            await forge.revoke(worker_id)
            return Created(None, f"could not get an API key for the worker: {exc}")
    try:
        redis = await access.grant(
            worker_id, config.worker_type, redis_rights_for(commands, worker_id)
        )
    except Exception as exc:
        log.exception("could not make the worker's Redis users", worker_id=worker_id)
        if key_id:
            await keys.revoke(key_id)
        await forge.revoke(worker_id)
        return Created(None, f"could not make the worker's Redis users: {exc}")
    workspace = workspaces.path(worker_id)
    owner = home_owner(config, context)
    home = UserHome(owner, workspaces.home_of(owner)) if owner else None
    env = worker_env(
        launch,
        config,
        context,
        worker_id=worker_id,
        api_key=key,
        redis=redis,
        workspace=home.path if home else workspace,
        secrets=agent_secrets,
        git_token=git_token,
    )
    await store.create(
        worker_id,
        config.worker_type,
        key_id=key_id,
        user_id=user_id,
        agent_type=config.agent_type.value,
        created_by=command.request_id,
        current_task_id=context.get("task_id", ""),
        project_id=context.get("project_id", ""),
    )
    labels = worker_labels(worker_id, config, context)
    try:
        handle = await backend.start(WorkerSpec(worker_id, config, env, workspace, labels, home))
    except Exception as exc:
        log.exception("could not start a worker", worker_id=worker_id)
        await store.update(worker_id, WorkerState.FAILED, error=f"could not start: {exc}")
        if key_id:
            await keys.revoke(key_id)
        await access.revoke(worker_id)
        await forge.revoke(worker_id)
        return Created(None, f"could not start the worker: {exc}")
    await store.update(worker_id, handle=handle)
    log.info("worker started", worker_id=worker_id, handle=handle)
    return Created(worker_id)


async def delete_worker(
    command: DeleteWorkerCommand,
    *,
    store: StatusStore,
    backend: WorkerBackend,
    keys: WorkerKeys,
    unfinished: UnfinishedWork,
    stop_grace_s: float,
) -> WorkerResponse:
    """Stop and remove the worker; its status stays (STOPPED) for clients to read."""
    record = await store.record(command.worker_id)
    if record is None:
        return _response(
            "delete",
            command.request_id,
            command.correlation_id,
            success=False,
            worker_id=command.worker_id,
            error="no such worker",
        )
    exit_code: int | None = None
    if not record.is_final and record.handle:
        # Marked first: whoever sees the worker end (a watcher, another replica) ends it STOPPED.
        await store.update(command.worker_id, deleting="1")
        exit_code = await backend.stop(record.handle, stop_grace_s)
        await unfinished.report(command.worker_id, record.worker_type, DELETED, exit_code)
    await revoke_key(command.worker_id, store=store, keys=keys)
    if not record.is_final:
        await store.update(command.worker_id, WorkerState.STOPPED, exit_code=exit_code)
    return _response(
        "delete",
        command.request_id,
        command.correlation_id,
        success=True,
        worker_id=command.worker_id,
        status=await store.status(command.worker_id),
    )


async def worker_status(command: StatusWorkerCommand, *, store: StatusStore) -> WorkerResponse:
    status = await store.status(command.worker_id)
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
