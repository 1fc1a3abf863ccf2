"""The composition root of infra-service."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from redis.asyncio import Redis
from shared.streams import Idempotency, RedisStreamPublisher, connect_redis

from infra_service.adapters.ansible_runner import AnsibleRunnerPlaybooks
from infra_service.adapters.api_inventory import ApiInventory
from infra_service.adapters.git_sources import GitSources
from infra_service.adapters.local_secrets import LocalSecrets
from infra_service.config import InfraSettings
from infra_service.ports import Inventory, Playbooks, Secrets, Sources


@dataclass(frozen=True)
class Container:
    settings: InfraSettings
    redis: Redis
    http: httpx.AsyncClient
    inventory: Inventory
    secrets: Secrets
    sources: Sources
    playbooks: Playbooks
    publisher: RedisStreamPublisher
    idempotency: Idempotency
    jobs_dir: Path
    # The supervisor that runs projects on the `local` target: the one installed with us.
    local_supervisor_bin: Path


def bootstrap(settings: InfraSettings, *, playbooks: Playbooks | None = None) -> Container:
    redis = connect_redis(settings.redis_url)
    http = httpx.AsyncClient(
        base_url=settings.api_url,
        headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}"},
        timeout=10,
    )
    data_dir = settings.data_dir.resolve()
    jobs_dir = data_dir / "jobs"
    return Container(
        settings=settings,
        redis=redis,
        http=http,
        inventory=ApiInventory(http),
        secrets=LocalSecrets(variables=settings.secret_variables(), directory=settings.secrets_dir),
        sources=GitSources(),
        playbooks=playbooks
        or AnsibleRunnerPlaybooks(
            jobs_dir=jobs_dir,
            known_hosts=data_dir / "known_hosts",
            timeout_s=settings.job_timeout_s,
            connect_timeout_s=settings.ssh_connect_timeout_s,
        ),
        publisher=RedisStreamPublisher(redis),
        # A claim outlives the longest job, so a redelivery waits instead of deploying twice.
        idempotency=Idempotency(redis, lease_s=settings.job_timeout_s + 120),
        jobs_dir=jobs_dir,
        local_supervisor_bin=Path(sys.executable).parent,
    )
