"""The composition root of scaffolder: the only module that builds adapters.

CONCURRENCY consumers of scaffolder:queue, one entry each at a time (a scaffold is slow: the
forge, copier, a push)."""

from __future__ import annotations

import functools

from shared.api_client import api_client
from shared.lifetime import Lifetime
from shared.runtime import Closeable, Service
from shared.streams import ConsumerOptions, RedisStreamPublisher, StreamConsumer, connect_redis
from shared.streams.registry import SCAFFOLDER_QUEUE, TASK_PROGRESS, Group

from scaffolder.adapters.api_projects import ApiProjects
from scaffolder.adapters.copier_renderer import CopierRenderer
from scaffolder.adapters.fs_scratch import FsScratch
from scaffolder.adapters.git_cli import GitCli
from scaffolder.adapters.local_forge import LocalForge
from scaffolder.adapters.redis_results import RedisResults
from scaffolder.config import ScaffolderSettings
from scaffolder.handlers.scaffold import Retries, Tools, handle_scaffold
from scaffolder.ports import Author, Forge


def make_forge(settings: ScaffolderSettings) -> tuple[Forge, list[Closeable]]:
    """The configured forge, and what of it must be closed."""
    if settings.forge == "github":
        assert settings.github_private_key is not None  # the settings refuse github without it
        from scaffolder.adapters.github_forge import GitHubForge

        github = GitHubForge(
            api_url=settings.github_api_url,
            app_id=settings.github_app_id,
            private_key=settings.github_private_key,
            owner=settings.github_owner,
            owner_kind=settings.github_owner_kind,
            private=settings.github_private_repos,
        )
        return github, [github]
    return LocalForge(settings.repositories_dir), []


def build(settings: ScaffolderSettings, lifetime: Lifetime) -> Service:
    redis = connect_redis(settings.redis_url)
    http = api_client(settings)
    scratch = FsScratch(settings.scratch_dir)
    forge, forge_resources = make_forge(settings)
    handler = functools.partial(
        handle_scaffold,
        projects=ApiProjects(http),
        tools=Tools(
            forge=forge,
            renderer=CopierRenderer(settings.template_dir),
            git=GitCli(timeout_s=settings.git_timeout_s),
            scratch=scratch,
            author=Author(settings.git_author_name, settings.git_author_email),
        ),
        publisher=RedisStreamPublisher(redis),
        results=RedisResults(redis),
        retries=Retries(
            attempts=settings.forge_attempts, first_delay_s=settings.forge_first_delay_s
        ),
        progress_stream=lambda task_id: TASK_PROGRESS.name(task_id=task_id),
    )
    options = ConsumerOptions(batch_size=1, claim_idle_ms=int(settings.claim_idle_s * 1000))
    consumers = [
        StreamConsumer(
            redis,
            stream=SCAFFOLDER_QUEUE.pattern,
            group=Group.SCAFFOLDER,
            consumer=f"{settings.consumer_name}:{slot}",
            handler=handler,
            options=options,
        )
        for slot in range(settings.concurrency)
    ]
    return Service(
        "scaffolder",
        consumers=consumers,
        resources=[redis, http, *forge_resources],
        on_start=scratch.clear,
        grace_s=settings.shutdown_grace_s,
    )
