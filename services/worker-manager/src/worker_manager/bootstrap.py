"""The composition root of worker-manager."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import httpx
from redis.asyncio import Redis
from shared.streams import RedisStreamPublisher, connect_redis

from worker_manager.adapters.api_keys import ApiWorkerKeys
from worker_manager.adapters.idempotency import RenewedIdempotency
from worker_manager.adapters.outputs import UnfinishedWork
from worker_manager.adapters.process_backend import ProcessBackend
from worker_manager.adapters.status_store import StatusStore
from worker_manager.config import ManagerSettings
from worker_manager.ports import WorkerBackend, WorkerKeys


@dataclass(frozen=True)
class Container:
    settings: ManagerSettings
    redis: Redis
    http: httpx.AsyncClient
    store: StatusStore
    backend: WorkerBackend
    keys: WorkerKeys
    publisher: RedisStreamPublisher
    idempotency: RenewedIdempotency
    unfinished: UnfinishedWork
    workspace_root: Path


def make_backend(settings: ManagerSettings, redis: Redis) -> WorkerBackend:
    if settings.backend == "docker":
        import docker

        from worker_manager.adapters.docker_backend import DockerBackend, WorkerImages

        client = docker.from_env()
        images = WorkerImages(
            client,
            redis,
            prefix=settings.docker_image_prefix,
            base_image=settings.docker_base_image,
            wheels_dir=settings.worker_wheels_dir,
        )
        return DockerBackend(
            client,
            images,
            network_mode=settings.docker_network_mode,
            cpus=settings.worker_cpus,
            memory=settings.worker_memory,
            pids_limit=settings.worker_pids_limit,
        )
    return ProcessBackend(settings.wrapper_command)


def bootstrap(settings: ManagerSettings, *, backend: WorkerBackend | None = None) -> Container:
    redis = connect_redis(settings.redis_url)
    http = httpx.AsyncClient(
        base_url=settings.api_url,
        headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}"},
        timeout=10,
    )
    return Container(
        settings=settings,
        redis=redis,
        http=http,
        store=StatusStore(redis, finished_ttl_s=settings.status_ttl_s),
        backend=backend or make_backend(settings, redis),
        keys=ApiWorkerKeys(http),
        publisher=RedisStreamPublisher(redis),
        idempotency=RenewedIdempotency(redis, lease_s=settings.create_lease_s),
        unfinished=UnfinishedWork(redis),
        workspace_root=settings.data_dir.resolve(),
    )
