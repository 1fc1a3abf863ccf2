"""What a worker is started with: its environment and the labels its container carries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import TypeAdapter, ValidationError
from shared.contracts import Identifier, WorkerConfig, WorkerType
from shared.contracts.base import RepositoryReference

from worker_manager.ports import WorkerRedisUrls

CONTEXT_VARIABLES = ("user_id", "session_id")
# The context key naming the repository a developer worker clones and pushes (its clone URL):
# its forge token is limited to it.
REPOSITORY = "repository"
# What the wrapper reads for itself: a worker's secrets may not replace any of it (nor any GIT_*
# variable, which git would read).
WRAPPER_VARIABLES = frozenset(
    {
        "WORKER_ID",
        "WORKER_TYPE",
        "AGENT_TYPE",
        "REDIS_URL",
        "AGENT_REDIS_URL",
        "API_URL",
        "API_KEY",
        "ALLOWED_COMMANDS",
        "INSTRUCTIONS",
        "WORKSPACE_DIR",
        "AGENT_TIMEOUT_S",
        "HOME",
        "PATH",
        "USER_ID",
        "SESSION_ID",
        "AGENT_EXTRA_ENV",
        "AGENT_USER",
        "AGENT_SANDBOX",
        "GIT_TOKEN",
    }
)
_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)
_REPOSITORY: TypeAdapter[str] = TypeAdapter(RepositoryReference)


@dataclass(frozen=True)
class WorkerLaunch:
    """What every worker is given, whatever it is asked to do."""

    redis_url: str
    api_url: str
    task_timeout_s: float
    # Variables of worker-manager's own environment handed on (PATH, LANG, TZ and
    # WORKER_ENV_PASSTHROUGH's), read once at start.
    inherited: Mapping[str, str] = field(default_factory=dict)


def worker_env(
    launch: WorkerLaunch,
    config: WorkerConfig,
    context: Mapping[str, str],
    *,
    worker_id: str,
    api_key: str,
    redis: WorkerRedisUrls,
    workspace: Path,
    secrets: Mapping[str, str] | None = None,
    git_token: str | None = None,
) -> dict[str, str]:
    """The inherited variables, then the config's own, then its resolved `secrets`, then what
    the wrapper needs (which none of those may override), then the user and session the create
    names. REDIS_URL is the wrapper's own; AGENT_REDIS_URL and API_KEY are the agent's, each with
    only its rights. The secrets are the agent's: the wrapper is told their names
    (AGENT_EXTRA_ENV). GIT_TOKEN, when the forge minted one, is the wrapper's alone."""
    secrets = secrets or {}
    env = dict(launch.inherited)
    env.update(config.env_vars)
    env.update(secrets)
    extra = [n.strip() for n in env.get("AGENT_EXTRA_ENV", "").split(",") if n.strip()]
    extra += [name for name in sorted(secrets) if name not in extra]
    if extra:
        env["AGENT_EXTRA_ENV"] = ",".join(extra)
    if git_token:
        env["GIT_TOKEN"] = git_token
    env.update(
        WORKER_ID=worker_id,
        WORKER_TYPE=config.worker_type.value,
        AGENT_TYPE=config.agent_type.value,
        REDIS_URL=redis.wrapper,
        AGENT_REDIS_URL=redis.agent,
        API_URL=launch.api_url,
        API_KEY=api_key,
        ALLOWED_COMMANDS=config.allowed_commands,
        INSTRUCTIONS=config.instructions,
        WORKSPACE_DIR=str(workspace),
        AGENT_TIMEOUT_S=str(launch.task_timeout_s),
        HOME=str(workspace / "home"),
    )
    for name in CONTEXT_VARIABLES:
        if context.get(name):
            env[name.upper()] = context[name]
    return env


def worker_labels(
    worker_id: str, config: WorkerConfig, context: Mapping[str, str]
) -> dict[str, str]:
    """Labels the backend puts on what it starts: a container is found by its worker id."""
    return {
        "codegen.worker-id": worker_id,
        "codegen.worker-type": config.worker_type.value,
        "codegen.project-id": context.get("project_id", ""),
        "codegen.task-id": context.get("task_id", ""),
    }


def context_error(context: Mapping[str, str]) -> str | None:
    """Why a create's context cannot be used, or None. Its user and session become a directory
    and a volume name, variables and an agent's argv (`--resume`): each must be an identifier,
    exactly (never a path, a space or an option)."""
    for name in CONTEXT_VARIABLES:
        value = context.get(name)
        if value and not _is_identifier(value):
            return (
                f"context.{name} must be an identifier (letters, digits, _.:@+=-, not starting "
                f"with . or -): {value!r}"
            )
    repository = context.get(REPOSITORY)
    if repository and not _is_valid(_REPOSITORY, repository):
        return f"context.{REPOSITORY} must be a repository's clone URL or path: {repository!r}"
    return None


def secrets_error(config: WorkerConfig) -> str | None:
    """Why a config's secrets cannot be given to its worker, or None: they are the agent's and
    may not replace what the wrapper reads for itself."""
    for name in sorted(config.secrets):
        if name in WRAPPER_VARIABLES or name.startswith("GIT_"):
            return (
                f"secrets.{name}: {name} is the wrapper's own variable; an agent's secret may "
                "not replace it"
            )
    return None


def home_owner(config: WorkerConfig, context: Mapping[str, str]) -> str | None:
    """The user whose PO home a worker works in: a PO worker's workspace is its user's, kept
    across their PO workers, so a new one finds the agent's conversation (its session files are
    keyed by the home and the working directory). None for any other worker."""
    if config.worker_type is WorkerType.PO and context.get("user_id"):
        return context["user_id"]
    return None


def _is_identifier(value: str) -> bool:
    return _is_valid(_IDENTIFIER, value)


def _is_valid(kind: TypeAdapter[str], value: str) -> bool:
    try:
        return kind.validate_python(value) == value
    except ValidationError:
        return False
