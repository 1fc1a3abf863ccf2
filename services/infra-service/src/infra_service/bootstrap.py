"""The composition root of infra-service: the only module that builds adapters. Binds the
handlers to them and runs N consumers per queue (N jobs in flight)."""

from __future__ import annotations

import functools
import sys
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from shared.api_client import ApiClient, api_client
from shared.runtime import Lifetime, Service
from shared.secrets import LocalSecrets
from shared.streams import (
    ConsumerOptions,
    Group,
    Handler,
    Idempotency,
    RedisStreamPublisher,
    StreamConsumer,
    connect_redis,
)
from shared.streams.registry import ANSIBLE_DEPLOY_QUEUE, PROVISIONER_QUEUE, SERVER_HEALTH_QUEUE

from infra_service.adapters.ansible_runner import AnsibleRunnerPlaybooks
from infra_service.adapters.api_inventory import ApiInventory
from infra_service.adapters.git_sources import GitSources
from infra_service.adapters.redis_locks import RedisJobLocks
from infra_service.adapters.redis_results import RedisResultStore
from infra_service.adapters.ssh_probes import OpenSshProbes
from infra_service.config import InfraSettings
from infra_service.domain.jobs import Hosting, Retries
from infra_service.handlers.deploy import DeployOptions, handle_deploy
from infra_service.handlers.health import HealthOptions, handle_health_check
from infra_service.handlers.provision import ProvisionOptions, handle_provision


@dataclass(frozen=True)
class Adapters:
    redis: Redis
    http: ApiClient
    inventory: ApiInventory
    secrets: LocalSecrets
    sources: GitSources
    playbooks: AnsibleRunnerPlaybooks
    probes: OpenSshProbes
    locks: RedisJobLocks
    idempotency: Idempotency
    results: RedisResultStore
    publisher: RedisStreamPublisher
    hosting: Hosting


def build_adapters(settings: InfraSettings) -> Adapters:
    redis = connect_redis(settings.redis_url)
    http = api_client(settings)
    return Adapters(
        redis=redis,
        http=http,
        inventory=ApiInventory(http),
        secrets=LocalSecrets(variables=settings.secret_variables(), directory=settings.secrets_dir),
        sources=GitSources(),
        playbooks=AnsibleRunnerPlaybooks(
            jobs_dir=settings.jobs_dir,
            known_hosts=settings.known_hosts,
            timeout_s=settings.job_timeout_s,
            connect_timeout_s=settings.ssh_connect_timeout_s,
        ),
        probes=OpenSshProbes(
            known_hosts=settings.known_hosts, connect_timeout_s=settings.ssh_connect_timeout_s
        ),
        locks=RedisJobLocks(redis, hold_s=settings.claim_s, wait_s=settings.job_timeout_s),
        # A claim outlives the longest job, so a redelivery waits instead of deploying twice.
        idempotency=Idempotency(redis, lease_s=settings.claim_s),
        results=RedisResultStore(redis),
        publisher=RedisStreamPublisher(redis),
        hosting=Hosting(
            local_deploy_root=settings.local_deploy_root.resolve(),
            # The supervisor that runs projects on the `local` target: the one installed with us.
            local_supervisor_bin=Path(sys.executable).parent,
            remote_deploy_root=settings.remote_deploy_root,
        ),
    )


def build(settings: InfraSettings, lifetime: Lifetime) -> Service:
    adapters = build_adapters(settings)
    retries = Retries(attempts=settings.ssh_attempts, backoff_s=settings.ssh_backoff_s)
    deploy = functools.partial(
        handle_deploy,
        inventory=adapters.inventory,
        secrets=adapters.secrets,
        sources=adapters.sources,
        playbooks=adapters.playbooks,
        locks=adapters.locks,
        options=DeployOptions(
            forge_url=settings.forge_url,
            jobs_dir=settings.jobs_dir,
            hosting=adapters.hosting,
            retries=retries,
            releases_kept=settings.releases_kept,
            health_timeout_s=settings.health_timeout_s,
        ),
        idempotency=adapters.idempotency,
        results=adapters.results,
        publisher=adapters.publisher,
    )
    provision = functools.partial(
        handle_provision,
        inventory=adapters.inventory,
        secrets=adapters.secrets,
        playbooks=adapters.playbooks,
        locks=adapters.locks,
        options=ProvisionOptions(
            hosting=adapters.hosting,
            retries=retries,
            app_ports=settings.app_ports,
            vm_steps_check_mode=settings.vm_steps_check_mode,
        ),
        idempotency=adapters.idempotency,
        results=adapters.results,
        publisher=adapters.publisher,
    )
    health = functools.partial(
        handle_health_check,
        inventory=adapters.inventory,
        secrets=adapters.secrets,
        probes=adapters.probes,
        options=HealthOptions(hosting=adapters.hosting, retries=retries),
        idempotency=adapters.idempotency,
        results=adapters.results,
        publisher=adapters.publisher,
    )
    # An entry is reclaimed only after the longest job could have ended, not while it runs.
    # One entry per read: a consumer holding a batch would run its jobs one after the other
    # while the other consumers of the queue sit idle.
    options = ConsumerOptions(claim_idle_ms=int(settings.claim_s * 1000), batch_size=1)
    plan: list[tuple[str, Handler, int]] = [
        (ANSIBLE_DEPLOY_QUEUE.pattern, deploy, settings.deploy_concurrency),
        (PROVISIONER_QUEUE.pattern, provision, settings.provision_concurrency),
        (SERVER_HEALTH_QUEUE.pattern, health, settings.health_concurrency),
    ]
    consumers = [
        StreamConsumer(
            adapters.redis,
            stream=stream,
            group=Group.INFRA_SERVICE,
            consumer=f"{settings.consumer_name}:{stream}:{slot}",
            handler=handler,
            options=options,
        )
        for stream, handler, count in plan
        for slot in range(count)
    ]
    return Service(
        "infra-service",
        consumers=consumers,
        # Closed last first: the API client, then Redis.
        resources=[adapters.redis, adapters.http],
        grace_s=settings.shutdown_grace_s,
        loop_lag_probe_s=settings.loop_lag_probe_ms / 1000,
    )
