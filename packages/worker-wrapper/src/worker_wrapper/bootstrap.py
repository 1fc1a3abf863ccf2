"""The composition root: settings in, the wrapper's parts out."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path

from redis.asyncio import Redis
from shared.contracts import AgentType
from shared.streams import connect_redis

from worker_wrapper.adapters.agent import Agent
from worker_wrapper.adapters.git import Git
from worker_wrapper.adapters.lifecycle import Reporter
from worker_wrapper.adapters.process import AgentProcess
from worker_wrapper.config import WrapperSettings
from worker_wrapper.runners.base import Runner
from worker_wrapper.runners.claude import ClaudeRunner
from worker_wrapper.runners.codex import CodexRunner
from worker_wrapper.runners.factory import FactoryRunner
from worker_wrapper.runners.scripted import ScriptedRunner


@dataclass(frozen=True)
class Container:
    settings: WrapperSettings
    redis: Redis
    reporter: Reporter
    agent: Agent
    git: Git
    stop: asyncio.Event
    extra_env: dict[str, str]


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
            return ScriptedRunner(settings.scripted_agent_script)


def agent_environment(settings: WrapperSettings) -> dict[str, str]:
    """What the runners may pick from: the process environment, plus the CLI's configuration."""
    env = dict(os.environ)
    env.update(
        API_URL=settings.api_url,
        API_KEY=settings.api_key.get_secret_value(),
        REDIS_URL=settings.redis_url,
        WORKER_ID=settings.worker_id,
        ALLOWED_COMMANDS=settings.allowed_commands,
    )
    if settings.user_id:
        env["USER_ID"] = settings.user_id
    return env


def bootstrap(settings: WrapperSettings) -> Container:
    redis = connect_redis(settings.redis_url)
    stop = asyncio.Event()
    env = agent_environment(settings)
    extra = [n.strip() for n in settings.agent_extra_env.split(",") if n.strip()]
    agent = Agent(
        make_runner(settings),
        AgentProcess(kill_grace_s=settings.kill_grace_s, stop=stop),
        home=Path(settings.workspace_dir) / "home",
        env=env,
    )
    return Container(
        settings=settings,
        redis=redis,
        reporter=Reporter(
            redis, worker_id=settings.worker_id, heartbeat_ttl_s=settings.heartbeat_ttl_s
        ),
        agent=agent,
        git=Git(
            author_name=settings.git_author_name,
            author_email=settings.git_author_email,
            token=settings.git_token.get_secret_value(),
        ),
        stop=stop,
        extra_env={name: env[name] for name in extra if name in env},
    )
