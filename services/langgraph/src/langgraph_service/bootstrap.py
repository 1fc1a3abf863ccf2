"""The composition root of langgraph-service: the only module that builds adapters.

Consumers: engineering:queue and deploy:queue (INTAKE_CONCURRENCY each) start flows; the four
result streams (LISTENER_CONCURRENCY each) resume them; one consumer of tasks:stale sends stale
tasks down their flow's timeout path; one background task sweeps deadlines, cancellations and
flows a dead process left half-way."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime
from typing import Any

from psycopg_pool import AsyncConnectionPool
from shared.api_client import api_client
from shared.lifetime import Lifetime
from shared.runtime import Service
from shared.streams import ConsumerOptions, RedisStreamPublisher, StreamConsumer, connect_redis
from shared.streams.registry import (
    DEPLOY_QUEUE,
    DEPLOY_RESULTS,
    DEVELOPER_OUTPUT,
    ENGINEERING_QUEUE,
    SCAFFOLDER_RESULTS,
    STALE_TASKS,
    WORKER_RESPONSES_DEVELOPER,
    Group,
)

from langgraph_service.adapters import postgres_checkpoints
from langgraph_service.adapters.api_records import ApiExecutions, ApiProjects, ApiServers, ApiTasks
from langgraph_service.adapters.http_health import HttpHealth
from langgraph_service.adapters.postgres_flows import DDL, PostgresFlows
from langgraph_service.adapters.postgres_locks import PostgresLocks, open_lock_pool
from langgraph_service.adapters.signal_crash import SignalCrash
from langgraph_service.config import LanggraphSettings
from langgraph_service.flows import deploy, engineering
from langgraph_service.flows.runner import FlowRunner
from langgraph_service.flows.toolkit import Policy, Toolkit
from langgraph_service.handlers.intake import handle_deploy, handle_engineering
from langgraph_service.handlers.results import handle_result
from langgraph_service.handlers.stale import handle_stale
from langgraph_service.handlers.sweep import sweep_forever

RESULT_STREAMS = (SCAFFOLDER_RESULTS, WORKER_RESPONSES_DEVELOPER, DEVELOPER_OUTPUT, DEPLOY_RESULTS)


def policy_of(settings: LanggraphSettings) -> Policy:
    return Policy(
        max_attempts=settings.max_attempts,
        developer_agent=settings.developer_agent.value,
        developer_instructions=settings.developer_instructions,
        tester_agent=settings.tester_agent.value,
        develop_timeout_s=settings.develop_timeout_s,
        test_timeout_s=settings.test_timeout_s,
        worker_start_timeout_s=settings.worker_start_timeout_s,
        scaffold_timeout_s=settings.scaffold_timeout_s,
        deploy_timeout_s=settings.deploy_timeout_s,
        result_margin_s=settings.result_margin_s,
        deploy_server=settings.deploy_server,
        github_token_ref=settings.github_token_ref,
        secrets_ref_pattern=settings.secrets_ref_pattern,
        smoke_attempts=settings.smoke_attempts,
        smoke_first_delay_s=settings.smoke_first_delay_s,
    )


def utc_now() -> datetime:
    return datetime.now(UTC)


def build(settings: LanggraphSettings, lifetime: Lifetime) -> Service:
    redis = connect_redis(settings.redis_url)
    http = api_client(settings)
    health = HttpHealth()
    schema = settings.checkpoint_schema
    consumers_total = 2 * settings.intake_concurrency + 4 * settings.listener_concurrency + 1
    data_pool = postgres_checkpoints.open_pool(
        settings.postgres_conninfo, schema, max_size=consumers_total + 2, name="checkpoints"
    )
    lock_pool = open_lock_pool(
        settings.postgres_conninfo, max_size=consumers_total + 2, timeout_s=settings.lock_timeout_s
    )
    flows = PostgresFlows(data_pool)
    tasks = ApiTasks(http)
    crash = SignalCrash(settings.crash_at)
    publisher = RedisStreamPublisher(redis)
    kit = Toolkit(
        publisher=publisher,
        projects=ApiProjects(http),
        tasks=tasks,
        executions=ApiExecutions(http),
        servers=ApiServers(http),
        health=health,
        sleep=_sleep,
        clock=utc_now,
        crash=crash,
        policy=policy_of(settings),
    )
    checkpointer = postgres_checkpoints.saver(data_pool)
    runner = FlowRunner(
        {
            engineering.GRAPH: engineering.build(kit, checkpointer),
            deploy.GRAPH: deploy.build(kit, checkpointer),
        },
        flows=flows,
        locks=PostgresLocks(lock_pool),
        clock=utc_now,
        crash=crash,
    )

    async def on_start() -> None:
        await data_pool.open(wait=True, timeout=30)
        await lock_pool.open(wait=True, timeout=30)
        await postgres_checkpoints.set_up(data_pool, schema, DDL)

    options = ConsumerOptions(batch_size=1, claim_idle_ms=int(settings.claim_idle_s * 1000))
    name = settings.consumer_name

    def consumers(stream: str, handler: object, count: int) -> list[StreamConsumer]:
        return [
            StreamConsumer(
                redis,
                stream=stream,
                group=Group.LANGGRAPH,
                consumer=f"{name}:{stream}:{slot}",
                handler=handler,  # type: ignore[arg-type]
                options=options,
            )
            for slot in range(count)
        ]

    intake = [
        *consumers(
            ENGINEERING_QUEUE.pattern,
            functools.partial(handle_engineering, runner=runner),
            settings.intake_concurrency,
        ),
        *consumers(
            DEPLOY_QUEUE.pattern,
            functools.partial(handle_deploy, runner=runner),
            settings.intake_concurrency,
        ),
    ]
    listeners = [
        consumer
        for spec in RESULT_STREAMS
        for consumer in consumers(
            spec.pattern,
            functools.partial(
                handle_result, runner=runner, publisher=publisher, stream=spec.pattern
            ),
            settings.listener_concurrency,
        )
    ]
    stale = consumers(
        STALE_TASKS.pattern,
        functools.partial(handle_stale, runner=runner, tasks=tasks, clock=utc_now),
        1,
    )
    sweeper = functools.partial(
        sweep_forever,
        runner=runner,
        flows=flows,
        tasks=tasks,
        clock=utc_now,
        interval_s=settings.sweep_interval_s,
        stalled_after_s=settings.stalled_after_s,
    )
    return Service(
        "langgraph-service",
        consumers=[*intake, *listeners, *stale],
        tasks={"sweeper": sweeper},
        resources=[redis, http, health, _Closing(data_pool), _Closing(lock_pool)],
        on_start=on_start,
        grace_s=settings.shutdown_grace_s,
        loop_lag_probe_s=1.0,
    )


async def _sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


class _Closing:
    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool

    async def aclose(self) -> None:
        await self._pool.close()
