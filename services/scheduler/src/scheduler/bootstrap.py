"""The composition root of the scheduler: the only module that builds adapters. Each job is a
handler bound to its ports and run on its own loop (`runner.run_forever`); the consumers answer
what the jobs asked other services for."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from shared.api_client import ApiClient, api_client
from shared.runtime import BackgroundTask, Lifetime, Service
from shared.secrets import LocalSecrets
from shared.streams import Group, RedisStreamPublisher, StreamConsumer, connect_redis
from shared.streams.registry import PROVISIONER_RESULTS, SERVER_HEALTH_RESULTS

from scheduler.adapters.api_catalog import ApiCatalog
from scheduler.adapters.github_forge import GitHubForge
from scheduler.adapters.hetzner_provider import HetznerProvider, token_from
from scheduler.adapters.local_forge import LocalForge
from scheduler.adapters.local_provider import LocalProvider
from scheduler.adapters.redis_provisioning import RedisProvisioningRetries
from scheduler.adapters.redis_schedule import RedisSchedule
from scheduler.adapters.redis_streams import RedisStreams
from scheduler.adapters.redis_workers import RedisWorkers
from scheduler.config import SchedulerSettings
from scheduler.domain.backoff import Backoff
from scheduler.domain.schedule import Job
from scheduler.domain.server_sync import SyncOptions
from scheduler.handlers.provisioning import handle_provisioner_result, retry_provisioning
from scheduler.handlers.repository_sync import sync_repositories
from scheduler.handlers.server_health import check_servers, handle_health_result
from scheduler.handlers.server_sync import sync_servers
from scheduler.handlers.stale_work import find_stale_work
from scheduler.handlers.streams import keep_streams
from scheduler.runner import Timing, run_forever


@dataclass(frozen=True)
class Adapters:
    redis: Redis
    http: ApiClient
    api: ApiCatalog
    schedule: RedisSchedule
    streams: RedisStreams
    publisher: RedisStreamPublisher
    forge: LocalForge | GitHubForge
    provider: LocalProvider | HetznerProvider | None
    provisioning: RedisProvisioningRetries
    workers: RedisWorkers


def build_adapters(settings: SchedulerSettings) -> Adapters:
    redis = connect_redis(settings.redis_url)
    http = api_client(settings)
    return Adapters(
        redis=redis,
        http=http,
        api=ApiCatalog(http),
        schedule=RedisSchedule(redis),
        streams=RedisStreams(redis),
        publisher=RedisStreamPublisher(redis),
        forge=make_forge(settings),
        provider=make_provider(settings),
        provisioning=RedisProvisioningRetries(redis),
        workers=RedisWorkers(redis),
    )


def make_forge(settings: SchedulerSettings) -> LocalForge | GitHubForge:
    """The forge repository sync asks, chosen by FORGE."""
    if settings.forge != "github":
        return LocalForge(settings.local_forge_dir, timeout_s=settings.git_timeout_s)
    assert settings.github_private_key_ref is not None  # SchedulerSettings requires it
    secrets = LocalSecrets(variables=settings.secret_variables(), directory=settings.secrets_dir)
    return GitHubForge(
        httpx.AsyncClient(timeout=settings.git_timeout_s),
        app_id=settings.github_app_id,
        private_key=secrets.resolve(settings.github_private_key_ref),
        owner=settings.github_owner,
        api_url=settings.github_api_url,
    )


def make_provider(settings: SchedulerSettings) -> LocalProvider | HetznerProvider | None:
    """Where servers come from, chosen by SERVER_PROVIDER; None for `none`."""
    if settings.server_provider == "local":
        return LocalProvider(name=settings.local_server_name, address=settings.local_server_address)
    if settings.server_provider == "hetzner":
        variables, directory = settings.secret_variables(), settings.secrets_dir
        secrets = LocalSecrets(variables=variables, directory=directory)
        # Resolved at each listing: a missing token fails the run, not the scheduler's start.
        token = token_from(secrets.resolve, settings.hetzner_token_ref)
        return HetznerProvider(api_url=settings.hetzner_api_url, token=token)
    return None


def server_sync_jobs(settings: SchedulerSettings, a: Adapters) -> list[Job]:
    """Server sync, unless there is no provider."""
    if a.provider is None:
        return []
    options = SyncOptions(
        local=isinstance(a.provider, LocalProvider), ssh_key_ref=settings.provider_ssh_key_ref
    )
    sync = functools.partial(
        sync_servers, provider=a.provider, servers=a.api, incidents=a.api, options=options
    )
    return [Job("server_sync", settings.server_sync_interval_s, sync)]


def jobs(settings: SchedulerSettings, a: Adapters) -> list[Job]:
    """Every job with its interval; one whose interval is 0 is left out."""
    every = [
        Job(
            "streams",
            settings.streams_interval_s,
            functools.partial(keep_streams, streams=a.streams, incidents=a.api),
        ),
        Job(
            "repository_sync",
            settings.repository_sync_interval_s,
            functools.partial(sync_repositories, projects=a.api, forge=a.forge, incidents=a.api),
        ),
        Job(
            "provisioning",
            settings.provisioning_interval_s,
            functools.partial(
                retry_provisioning,
                servers=a.api,
                retries=a.provisioning,
                publisher=a.publisher,
                backoff=Backoff(
                    settings.provisioning_backoff_s, settings.provisioning_backoff_max_s
                ),
                answer_wait_ms=int(settings.provisioning_answer_wait_s * 1000),
            ),
        ),
        Job(
            "server_health",
            settings.server_health_interval_s,
            functools.partial(
                check_servers, servers=a.api, publisher=a.publisher, retries=a.provisioning
            ),
        ),
        *server_sync_jobs(settings, a),
        Job(
            "stale_work",
            settings.stale_work_interval_s,
            functools.partial(
                find_stale_work,
                tasks=a.api,
                workers=a.workers,
                publisher=a.publisher,
                stale_task_after_s=settings.stale_task_after_s,
                worker_orphan_after_s=settings.worker_orphan_after_s,
            ),
        ),
    ]
    return [job for job in every if job.interval_s > 0]


def consumers(settings: SchedulerSettings, a: Adapters) -> list[StreamConsumer]:
    """What answers the jobs' requests: results from the services they asked."""
    return [
        # Run even with provisioning off: its group must exist for the stream to be trimmed.
        StreamConsumer(
            a.redis,
            stream=PROVISIONER_RESULTS.pattern,
            group=Group.SCHEDULER,
            consumer=f"{settings.consumer_name}:provisioner-results",
            handler=functools.partial(
                handle_provisioner_result, servers=a.api, retries=a.provisioning
            ),
        ),
        # Run even with health checks off: its group must exist for the stream to be trimmed.
        StreamConsumer(
            a.redis,
            stream=SERVER_HEALTH_RESULTS.pattern,
            group=Group.SCHEDULER,
            consumer=f"{settings.consumer_name}:health-results",
            handler=functools.partial(
                handle_health_result, servers=a.api, incidents=a.api, retries=a.provisioning
            ),
        ),
    ]


def build(settings: SchedulerSettings, lifetime: Lifetime) -> Service:
    adapters = build_adapters(settings)
    timing = Timing(
        lease_s=settings.lease_s,
        poll_s=settings.poll_s,
        jitter=settings.jitter,
        grace_s=settings.shutdown_grace_s,
        run_timeout_s=settings.run_timeout_s,
    )
    scheduled = jobs(settings, adapters)

    def loop(job: Job) -> BackgroundTask:
        return functools.partial(
            run_forever,
            job,
            schedule=adapters.schedule,
            replica=settings.consumer_name,
            timing=timing,
        )

    async def register() -> None:
        await adapters.schedule.register({job.name: job.interval_s for job in scheduled})

    tasks: dict[str, BackgroundTask] = {f"job {job.name}": loop(job) for job in scheduled}
    return Service(
        "scheduler",
        consumers=consumers(settings, adapters),
        tasks=tasks,
        on_start=register,
        resources=[adapters.redis, adapters.http, adapters.forge],
        # The runs end themselves within SHUTDOWN_GRACE_S (interrupted, if need be); the
        # runtime's own grace is only for their last writes.
        grace_s=settings.shutdown_grace_s + 10,
    )
