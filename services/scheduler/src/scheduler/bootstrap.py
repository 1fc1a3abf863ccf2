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
from shared.streams import RedisStreamPublisher, StreamConsumer, connect_redis

from scheduler.adapters.api_catalog import ApiCatalog
from scheduler.adapters.github_forge import GitHubForge
from scheduler.adapters.local_forge import LocalForge
from scheduler.adapters.redis_schedule import RedisSchedule
from scheduler.adapters.redis_streams import RedisStreams
from scheduler.config import SchedulerSettings
from scheduler.domain.schedule import Job
from scheduler.handlers.repository_sync import sync_repositories
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
    )


def make_forge(settings: SchedulerSettings) -> LocalForge | GitHubForge:
    """The forge repository sync asks, chosen by FORGE."""
    if settings.forge != "github":
        return LocalForge(settings.local_forge_dir, timeout_s=settings.git_timeout_s)
    if not (settings.github_app_id and settings.github_private_key_ref and settings.github_owner):
        raise ValueError("FORGE github needs GITHUB_APP_ID, GITHUB_PRIVATE_KEY_REF, GITHUB_OWNER")
    secrets = LocalSecrets(variables=settings.secret_variables(), directory=settings.secrets_dir)
    return GitHubForge(
        httpx.AsyncClient(timeout=settings.git_timeout_s),
        app_id=settings.github_app_id,
        private_key=secrets.resolve(settings.github_private_key_ref),
        owner=settings.github_owner,
        api_url=settings.github_api_url,
    )


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
    ]
    return [job for job in every if job.interval_s > 0]


def consumers(settings: SchedulerSettings, a: Adapters) -> list[StreamConsumer]:
    """What answers the jobs' requests: results from the services they asked."""
    return []


def build(settings: SchedulerSettings, lifetime: Lifetime) -> Service:
    adapters = build_adapters(settings)
    timing = Timing(
        lease_s=settings.lease_s,
        poll_s=settings.poll_s,
        jitter=settings.jitter,
        grace_s=settings.shutdown_grace_s,
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
