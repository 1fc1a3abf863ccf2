"""`infra-service`: consumes ansible:deploy:queue and provisioner:queue; stopped by SIGTERM."""

from __future__ import annotations

import asyncio
import functools

from shared.logging import configure_logging
from shared.signals import stop_on_signals
from shared.streams import ConsumerOptions, Handler, StreamConsumer, run_consumers
from shared.streams.registry import ANSIBLE_DEPLOY_QUEUE, PROVISIONER_QUEUE

from infra_service.bootstrap import Container, bootstrap
from infra_service.config import InfraSettings
from infra_service.handlers.deploy import handle_deploy
from infra_service.handlers.provision import handle_provision

GROUP = "infra-service"


def consumers(deps: Container) -> list[StreamConsumer]:
    """Several consumers per queue: that many jobs in flight, each on its own entry."""
    settings = deps.settings
    # An entry is reclaimed only after the longest job could have ended, not while it runs.
    options = ConsumerOptions(claim_idle_ms=int((settings.job_timeout_s + 120) * 1000))
    plan: list[tuple[str, Handler, int]] = [
        (
            ANSIBLE_DEPLOY_QUEUE.pattern,
            functools.partial(handle_deploy, deps=deps),
            settings.deploy_concurrency,
        ),
        (
            PROVISIONER_QUEUE.pattern,
            functools.partial(handle_provision, deps=deps),
            settings.provision_concurrency,
        ),
    ]
    return [
        StreamConsumer(
            deps.redis,
            stream=stream,
            group=GROUP,
            consumer=f"{settings.consumer_name}:{stream}:{slot}",
            handler=handler,
            options=options,
        )
        for stream, handler, count in plan
        for slot in range(count)
    ]


async def serve(deps: Container, stop: asyncio.Event) -> None:
    try:
        await run_consumers(*consumers(deps), stop=stop)
    finally:
        await deps.http.aclose()
        await deps.redis.aclose()


async def run(settings: InfraSettings) -> None:
    await serve(bootstrap(settings), stop_on_signals())


def main() -> None:
    settings = InfraSettings()
    configure_logging("infra-service", json=settings.log_json, level=settings.log_level)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
