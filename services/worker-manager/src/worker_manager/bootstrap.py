"""The composition root of worker-manager: the only module that builds adapters.

The service: COMMAND_CONCURRENCY consumers of worker:commands (a create waiting for an image
build holds up no other command), one of worker:lifecycle, the watcher (a pass every
MONITOR_INTERVAL_S) and, on an engine that reports deaths, the follower of its events."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Awaitable, Callable

import httpx
import structlog
from redis.asyncio import Redis
from shared.api_client import api_client
from shared.lifetime import Lifetime
from shared.runtime import BackgroundTask, Service
from shared.secrets import LocalSecrets
from shared.streams import (
    ConsumerOptions,
    RedisStreamPublisher,
    StreamConsumer,
    connect_redis,
    raise_if_cancelled,
)
from shared.streams.registry import WORKER_COMMANDS, WORKER_LIFECYCLE, Group

from worker_manager.adapters.api_keys import ApiWorkerKeys
from worker_manager.adapters.fs_workspaces import LocalWorkspaces
from worker_manager.adapters.github_tokens import GitHubAppTokens
from worker_manager.adapters.local_forge import LocalForgeTokens
from worker_manager.adapters.process_backend import ProcessBackend
from worker_manager.adapters.redis_acl import RedisAcl, SharedRedis
from worker_manager.adapters.redis_heartbeats import RedisHeartbeats
from worker_manager.adapters.redis_idempotency import RedisCreations, RenewedIdempotency
from worker_manager.adapters.redis_inputs import RedisWorkerInputs
from worker_manager.adapters.redis_status_store import RedisStatusStore
from worker_manager.adapters.redis_unfinished_work import RedisUnfinishedWork
from worker_manager.config import ManagerSettings
from worker_manager.domain.environment import WorkerLaunch
from worker_manager.handlers.commands import handle_command
from worker_manager.handlers.deaths import handle_death
from worker_manager.handlers.lifecycle import handle_lifecycle
from worker_manager.handlers.watch import (
    collect_images,
    remove_ended,
    remove_orphan_workspaces,
    revoke_orphans,
    watch_workers,
)
from worker_manager.ports import (
    EngineDeaths,
    ForgeTokens,
    ImageCollector,
    WorkerAccess,
    WorkerBackend,
    Workspaces,
)

log = structlog.get_logger("worker_manager")

ENGINE_EVENTS = "engine events"


def make_backend(
    settings: ManagerSettings, redis: Redis
) -> tuple[WorkerBackend, EngineDeaths | None, ImageCollector | None, Workspaces]:
    """The backend, what its engine offers besides (its deaths as events, its images), and the
    workspaces its workers work in."""
    directories = LocalWorkspaces(settings.workspace_root)
    if settings.backend == "docker":
        # `docker.client`, not `docker`: the repository's docker/ directory is not this package.
        from docker.client import DockerClient

        from worker_manager.adapters.docker_backend import (
            DockerBackend,
            VolumeWorkspaces,
            WorkerImages,
        )

        client = DockerClient.from_env()
        images = WorkerImages(
            client,
            redis,
            prefix=settings.docker_image_prefix,
            base_image=settings.docker_base_image,
            wheels_dir=settings.worker_wheels_dir,
            ca_certs_dir=settings.worker_ca_certs_dir,
        )
        backend = DockerBackend(
            client,
            images,
            network_mode=settings.docker_network_mode,
            cpus=settings.worker_cpus,
            memory=settings.worker_memory,
            pids_limit=settings.worker_pids_limit,
            mounts=settings.worker_mounts,
            workspace_storage=settings.workspace_storage,
        )
        workspaces: Workspaces = directories
        if settings.workspace_storage == "volume":
            workspaces = VolumeWorkspaces(
                client, settings.workspace_root, prefix=settings.docker_image_prefix
            )
        return backend, backend, images, workspaces
    return ProcessBackend(settings.wrapper_command), None, None, directories


def make_forge(
    settings: ManagerSettings, secrets: LocalSecrets
) -> tuple[ForgeTokens, httpx.AsyncClient | None]:
    """The forge's tokens, and the HTTP client to close with the service (if it made one)."""
    if settings.forge == "github" and settings.github_private_key_ref:
        client = httpx.AsyncClient(timeout=30)
        tokens = GitHubAppTokens(
            client,
            app_id=settings.github_app_id,
            private_key=secrets.resolve(settings.github_private_key_ref),
            owner=settings.github_owner,
            owner_kind=settings.github_owner_kind,
            api_url=settings.github_api_url,
        )
        return tokens, client
    return LocalForgeTokens(), None


def build(
    settings: ManagerSettings, lifetime: Lifetime, *, backend: WorkerBackend | None = None
) -> Service:
    """worker-manager as a Service; `backend` replaces the configured one (tests)."""
    redis = connect_redis(settings.redis_url)
    http = api_client(settings)
    deaths: EngineDeaths | None = None
    images: ImageCollector | None = None
    workspaces: Workspaces = LocalWorkspaces(settings.workspace_root)
    if backend is None:
        backend, deaths, images, workspaces = make_backend(settings, redis)
    store = RedisStatusStore(redis, finished_ttl_s=settings.status_ttl_s)
    secrets = LocalSecrets(variables=settings.secret_variables(), directory=settings.secrets_dir)
    forge, forge_http = make_forge(settings, secrets)
    keys = ApiWorkerKeys(http)
    unfinished = RedisUnfinishedWork(redis)
    inputs = RedisWorkerInputs(redis)
    worker_redis_url = settings.worker_redis_url or settings.redis_url
    access: WorkerAccess = (
        RedisAcl(redis, worker_redis_url)
        if settings.worker_redis_acl
        else SharedRedis(worker_redis_url)
    )
    launch = WorkerLaunch(
        redis_url=worker_redis_url,
        api_url=settings.api_url,
        task_timeout_s=settings.task_timeout_s,
        inherited={n: os.environ[n] for n in settings.inherited_variables if n in os.environ},
    )
    on_command = functools.partial(
        handle_command,
        store=store,
        backend=backend,
        keys=keys,
        access=access,
        secrets=secrets,
        forge=forge,
        creations=RedisCreations(redis, RenewedIdempotency(redis, lease_s=settings.create_lease_s)),
        unfinished=unfinished,
        workspaces=workspaces,
        publisher=RedisStreamPublisher(redis),
        launch=launch,
        max_workers=settings.max_workers,
        worker_key_ttl_s=settings.worker_key_ttl_s,
        stop_grace_s=settings.stop_grace_s,
    )
    on_event = functools.partial(
        handle_lifecycle, store=store, backend=backend, unfinished=unfinished, keys=keys
    )
    # One entry at a time per consumer; a create still running when its entry is handed to
    # another consumer is refused there (RequestInProgress), not run twice.
    command_options = ConsumerOptions(
        batch_size=1,
        claim_idle_ms=settings.command_claim_idle_ms,
        claim_interval_s=settings.command_claim_interval_s,
    )
    consumers = [
        *(
            StreamConsumer(
                redis,
                stream=WORKER_COMMANDS.pattern,
                group=Group.WORKER_MANAGER,
                consumer=f"{settings.consumer_name}:commands-{index}",
                handler=on_command,
                options=command_options,
            )
            for index in range(settings.command_concurrency)
        ),
        StreamConsumer(
            redis,
            stream=WORKER_LIFECYCLE.pattern,
            group=Group.WORKER_MANAGER,
            consumer=settings.consumer_name,
            handler=on_event,
        ),
    ]
    watch = functools.partial(
        watch_workers,
        store=store,
        backend=backend,
        unfinished=unfinished,
        keys=keys,
        heartbeats=RedisHeartbeats(redis),
        inputs=inputs,
        idle_timeout_s=settings.idle_timeout_s,
        engine_grace_s=settings.engine_grace_s,
    )
    remove = functools.partial(
        remove_ended,
        store=store,
        backend=backend,
        workspaces=workspaces,
        inputs=inputs,
        access=access,
        forge=forge,
        stop_grace_s=settings.stop_grace_s,
    )
    orphans = functools.partial(revoke_orphans, store=store, access=access, suspects=set())
    orphan_workspaces = functools.partial(
        remove_orphan_workspaces, store=store, workspaces=workspaces
    )
    collect = (
        None
        if images is None
        else functools.partial(collect_images, images=images, max_idle_days=settings.image_gc_days)
    )
    tasks = {
        "watcher": _watcher(
            [watch, remove, orphans, orphan_workspaces],
            collect,
            interval_s=settings.monitor_interval_s,
            gc_interval_s=settings.image_gc_interval_s,
        )
    }
    if deaths is not None:
        on_death = functools.partial(
            handle_death,
            store=store,
            backend=backend,
            unfinished=unfinished,
            keys=keys,
            workspaces=workspaces,
            inputs=inputs,
            access=access,
            forge=forge,
            stop_grace_s=settings.stop_grace_s,
        )
        tasks[ENGINE_EVENTS] = _death_follower(
            deaths, on_death, retry_s=settings.monitor_interval_s
        )
    return Service(
        "worker-manager",
        consumers=consumers,
        tasks=tasks,
        # Nothing to finish there: a death it misses, the watcher sees.
        cancel_at_once={ENGINE_EVENTS},
        resources=[redis, http, *([forge_http] if forge_http else [])],
        grace_s=settings.shutdown_grace_s,
    )


def _watcher(
    passes: list[Callable[[], Awaitable[None]]],
    collect: Callable[[], Awaitable[None]] | None,
    *,
    interval_s: float,
    gc_interval_s: float,
) -> BackgroundTask:
    """Each pass in turn every `interval_s`, and `collect` every `gc_interval_s`, until the
    service stops."""

    async def watcher(lifetime: Lifetime) -> None:
        next_gc = 0.0
        while not lifetime.stopping.is_set():
            raise_if_cancelled()
            for one_pass in passes:
                await one_pass()
            if collect is not None and time.monotonic() >= next_gc:
                await collect()
                next_gc = time.monotonic() + gc_interval_s
            if await lifetime.sleep(interval_s):
                return

    return watcher


def _death_follower(
    engine: EngineDeaths, on_death: Callable[[str, int], Awaitable[None]], *, retry_s: float
) -> BackgroundTask:
    """Engines that report deaths as events (docker) are followed as well as watched."""

    async def follow(lifetime: Lifetime) -> None:
        while not lifetime.stopping.is_set():
            raise_if_cancelled()
            try:
                async for worker_id, exit_code in engine.deaths():
                    raise_if_cancelled()
                    await on_death(worker_id, exit_code)
            except Exception:
                log.exception("the engine's event stream broke; following it again")
            if await lifetime.sleep(retry_s):
                return

    return follow
