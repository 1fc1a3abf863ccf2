"""The composition root: settings in, the worker as a `Service` out. The only module that builds
adapters."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from redis.asyncio import Redis
from shared.contracts import AgentType, WorkerType
from shared.runtime import Ending, Lifetime, Service, StopReason
from shared.streams import ConsumerOptions, Group, StreamConsumer, connect_redis
from shared.streams.registry import DEVELOPER_INPUT, PO_INPUT

from worker_wrapper.adapters.git_cli import GitCli
from worker_wrapper.adapters.isolation import Isolation, agent_isolation
from worker_wrapper.adapters.process_agent import ProcessAgent
from worker_wrapper.adapters.process_group import AgentProcess
from worker_wrapper.adapters.redis_heartbeat import RedisHeartbeat
from worker_wrapper.adapters.redis_interim import RedisInterimReplies
from worker_wrapper.adapters.redis_lifecycle import RedisLifecycle
from worker_wrapper.adapters.redis_publisher import RetryingPublisher
from worker_wrapper.adapters.redis_sessions import RedisSessions
from worker_wrapper.adapters.runners.base import Runner
from worker_wrapper.adapters.runners.claude import ClaudeRunner
from worker_wrapper.adapters.runners.codex import CodexRunner
from worker_wrapper.adapters.runners.factory import FactoryRunner
from worker_wrapper.adapters.runners.scripted import ScriptedRunner
from worker_wrapper.adapters.shell import ProcessShell
from worker_wrapper.config import EXIT_STOPPED, WrapperSettings
from worker_wrapper.domain.ending import WhyStopped
from worker_wrapper.handlers import developer, po
from worker_wrapper.handlers.lifecycle import keep_alive, say_last_words
from worker_wrapper.ports import Agent, Heartbeat, Lifecycle, Publisher, Shell

# A PO worker's loop looks for inputs its earlier life left pending this often.
PO_CLAIM_INTERVAL_S = 30.0
WHY_STOPPED = {
    StopReason.ASKED: WhyStopped.ASKED,
    StopReason.FINISHED: WhyStopped.DONE,
    StopReason.TASK_ENDED: WhyStopped.BROKE,
}


def build(settings: WrapperSettings, lifetime: Lifetime) -> Service:
    """A developer worker consumes one task from its own input stream, then finishes with its
    exit code; a PO worker answers its own input stream until it is stopped. Both beat and report
    their lifecycle."""
    redis = connect_redis(settings.redis_url)
    publisher = RetryingPublisher(redis)
    lifecycle = RedisLifecycle(publisher, worker_id=settings.worker_id)
    heartbeat = RedisHeartbeat(redis, worker_id=settings.worker_id, ttl_s=settings.heartbeat_ttl_s)
    env = agent_environment(settings)
    # Stopping stops the agent's turn or the test command: its whole process group.
    isolation = agent_isolation(
        settings.agent_user, settings.agent_sandbox, workspace=settings.workspace_dir
    )
    process = AgentProcess(
        kill_grace_s=settings.kill_grace_s, stop=lifetime.stopping, isolation=isolation
    )
    agent = ProcessAgent(make_runner(settings), process, home=settings.agent_home, env=env)
    ports = Ports(
        agent=agent,
        # The wrapper's own environment, from which the shell takes its short allowlist only.
        shell=ProcessShell(process, env=os.environ, home=settings.agent_home),
        heartbeat=heartbeat,
        publisher=publisher,
        lifecycle=lifecycle,
        extra_env={name: env[name] for name in settings.extra_env_names if name in env},
    )
    if settings.worker_type is WorkerType.DEVELOPER:
        consumer, prepare = _developer(settings, lifetime, redis, ports, isolation), _nothing
    else:
        consumer = _po(settings, redis, ports)
        prepare = partial(
            po.prepare_workspace,
            cwd=settings.po_dir,
            instructions_file=agent.instructions_file,
            instructions=settings.instructions,
        )
    return Service(
        name=settings.service_name,
        consumers=[consumer],
        tasks={
            "heartbeat": partial(
                keep_alive,
                prepare=prepare,
                lifecycle=lifecycle,
                heartbeat=heartbeat,
                interval_s=settings.heartbeat_interval_s,
            )
        },
        resources=[redis],
        grace_s=settings.stop_grace_s,
        exit_code_when_asked=EXIT_STOPPED,
        on_stop=_last_words(lifecycle, heartbeat),
    )


@dataclass(frozen=True)
class Ports:
    """What both kinds of worker hand their handler."""

    agent: Agent
    shell: Shell
    heartbeat: Heartbeat
    publisher: Publisher
    lifecycle: Lifecycle
    extra_env: dict[str, str]


def _developer(
    settings: WrapperSettings, lifetime: Lifetime, redis: Redis, ports: Ports, isolation: Isolation
) -> StreamConsumer:
    def finish(exit_code: int) -> None:
        # At once, not when the runtime next wakes: the consumer must not read another task.
        consumer.stop()
        lifetime.finish(exit_code)

    # One task, then exit: a batch of one, from the worker's own stream (the flow made this worker
    # for its run; no other worker may take it). The consumer makes the group from the stream's
    # start, so a run published before the worker first reads is taken. An entry it held when it
    # died is reported by worker-manager, not retried (the single listener decides on retries).
    consumer = StreamConsumer(
        redis,
        stream=DEVELOPER_INPUT.name(worker_id=settings.worker_id),
        group=Group.DEVELOPER_WORKERS,
        consumer=settings.worker_id,
        handler=partial(
            developer.handle_task,
            worker_id=settings.worker_id,
            repo=settings.repo_dir,
            instructions=settings.instructions,
            extra_env=ports.extra_env,
            agent=ports.agent,
            git=GitCli(
                author_name=settings.git_author_name,
                author_email=settings.git_author_email,
                token=settings.git_token.get_secret_value(),
                isolation=isolation,
            ),
            shell=ports.shell,
            heartbeat=ports.heartbeat,
            publisher=ports.publisher,
            lifecycle=ports.lifecycle,
            finish=finish,
        ),
        options=ConsumerOptions(
            batch_size=1,
            claim_idle_ms=settings.claim_idle_ms,
            claim_interval_s=settings.agent_timeout_s,
        ),
    )
    return consumer


def _po(settings: WrapperSettings, redis: Redis, ports: Ports) -> StreamConsumer:
    return StreamConsumer(
        redis,
        stream=PO_INPUT.name(worker_id=settings.worker_id),
        group=Group.PO_WORKER,
        consumer=settings.worker_id,
        handler=partial(
            po.handle_message,
            worker_id=settings.worker_id,
            cwd=settings.po_dir,
            timeout_s=settings.agent_timeout_s,
            extra_env=ports.extra_env,
            inherited_session=settings.session_id,
            agent=ports.agent,
            sessions=RedisSessions(redis, worker_id=settings.worker_id),
            interim=RedisInterimReplies(redis, worker_id=settings.worker_id),
            heartbeat=ports.heartbeat,
            publisher=ports.publisher,
        ),
        options=ConsumerOptions(
            batch_size=1,
            claim_idle_ms=settings.claim_idle_ms,
            claim_interval_s=PO_CLAIM_INTERVAL_S,
        ),
    )


def _nothing() -> None:
    """A developer worker has nothing to prepare before its task."""


def _last_words(lifecycle: Lifecycle, heartbeat: Heartbeat) -> Callable[[Ending], Awaitable[None]]:
    async def on_stop(ending: Ending) -> None:
        await say_last_words(
            WHY_STOPPED[ending.reason],
            exit_code=ending.exit_code,
            failures=ending.failed,
            lifecycle=lifecycle,
            heartbeat=heartbeat,
        )

    return on_stop


def make_runner(settings: WrapperSettings) -> Runner:
    match settings.agent_type:
        case AgentType.CLAUDE:
            return ClaudeRunner(
                settings.claude_bin,
                allowed_tools=settings.claude_allowed_tools,
                model=settings.claude_model,
            )
        case AgentType.CODEX:
            return CodexRunner(settings.codex_bin, config_toml=settings.codex_config)
        case AgentType.FACTORY:
            return FactoryRunner(settings.droid_bin)
        case AgentType.SCRIPTED:
            return ScriptedRunner(settings.scripted_agent_script, role=settings.worker_type.value)


def agent_environment(settings: WrapperSettings) -> dict[str, str]:
    """What the runners may pick from: the process environment, plus the CLI's configuration."""
    env = dict(os.environ)
    # The agent's own credentials: never the wrapper's REDIS_URL.
    agent_redis = (
        settings.agent_redis_url.get_secret_value()
        if settings.agent_redis_url
        else settings.redis_url
    )
    env.pop("AGENT_REDIS_URL", None)
    # The wrapper's push credential, whatever AGENT_EXTRA_ENV names.
    env.pop("GIT_TOKEN", None)
    env.update(
        API_URL=settings.api_url,
        API_KEY=settings.api_key.get_secret_value(),
        REDIS_URL=agent_redis,
        WORKER_ID=settings.worker_id,
        ALLOWED_COMMANDS=settings.allowed_commands,
    )
    if settings.user_id:
        env["USER_ID"] = settings.user_id
    return env
