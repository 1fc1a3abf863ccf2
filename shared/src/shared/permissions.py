"""What an agent may do, in one vocabulary: the CLI's commands, the API scopes each needs and the
Redis rights each needs. worker-manager turns a worker's ALLOWED_COMMANDS into a scoped API key
and a Redis ACL user with exactly these; the API and Redis enforce them; the CLI reads them back
from its key for a fast refusal (see docs/SECURITY.md).

Plain Python with no imports of note: the CLI loads it on every call.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from fnmatch import fnmatchcase

# API scopes: `<resource>:<action>`. A key without scopes has its principal's full rights.
PROJECTS_READ = "projects:read"
PROJECTS_WRITE = "projects:write"
TASKS_READ = "tasks:read"
TASKS_CREATE = "tasks:create"
TASKS_CANCEL = "tasks:cancel"
TASKS_WRITE = "tasks:write"
EXECUTIONS_READ = "executions:read"
EXECUTIONS_WRITE = "executions:write"
SERVERS_READ = "servers:read"
SERVERS_WRITE = "servers:write"
INCIDENTS_READ = "incidents:read"
INCIDENTS_WRITE = "incidents:write"
DEPLOYMENTS_READ = "deployments:read"
DEPLOYMENTS_WRITE = "deployments:write"
PORTS_READ = "ports:read"
PORTS_WRITE = "ports:write"
USERS_READ = "users:read"
USERS_WRITE = "users:write"
AGENT_CONFIGS_READ = "agent-configs:read"
AGENT_CONFIGS_WRITE = "agent-configs:write"
API_KEYS_ADMIN = "api-keys:admin"

SCOPES = (
    PROJECTS_READ, PROJECTS_WRITE, TASKS_READ, TASKS_CREATE, TASKS_CANCEL, TASKS_WRITE,
    EXECUTIONS_READ, EXECUTIONS_WRITE, SERVERS_READ, SERVERS_WRITE, INCIDENTS_READ,
    INCIDENTS_WRITE, DEPLOYMENTS_READ, DEPLOYMENTS_WRITE, PORTS_READ, PORTS_WRITE, USERS_READ,
    USERS_WRITE, AGENT_CONFIGS_READ, AGENT_CONFIGS_WRITE, API_KEYS_ADMIN,
)  # fmt: skip


@dataclass(frozen=True)
class RedisRight:
    """Redis commands on keys. `{worker_id}` in a key is the worker's own id."""

    commands: tuple[str, ...]
    keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Command:
    scopes: tuple[str, ...] = ()
    redis: tuple[RedisRight, ...] = ()


_START_ENGINEERING = RedisRight(("xadd",), ("engineering:queue",))
_START_DEPLOY = RedisRight(("xadd",), ("deploy:queue",))
_RESPOND = RedisRight(("xadd",), ("worker:po:{worker_id}:output",))
_QUEUE_LENGTHS = RedisRight(("xlen",), ("engineering:queue", "deploy:queue"))
_STARTS = (PROJECTS_READ, TASKS_CREATE, TASKS_CANCEL)

COMMANDS: dict[str, Command] = {
    "project.create": Command((PROJECTS_WRITE, PROJECTS_READ)),
    "project.list": Command((PROJECTS_READ,)),
    "project.get": Command((PROJECTS_READ,)),
    "project.tasks": Command((TASKS_READ,)),
    # A task that cannot be queued is cancelled, with the reason, by the same key.
    "engineering.start": Command(_STARTS, (_START_ENGINEERING,)),
    "engineering.status": Command((TASKS_READ,)),
    "engineering.wait": Command((TASKS_READ,)),
    "engineering.cancel": Command((TASKS_READ, TASKS_CANCEL)),
    "deploy.start": Command(_STARTS, (_START_DEPLOY,)),
    "deploy.status": Command((TASKS_READ,)),
    "deploy.cancel": Command((TASKS_READ, TASKS_CANCEL)),
    "infra.servers": Command((SERVERS_READ,)),
    "infra.incidents": Command((INCIDENTS_READ,)),
    "respond": Command(redis=(_RESPOND,)),
    "diagnose.api": Command((PROJECTS_READ,)),
    "diagnose.redis": Command(redis=(_QUEUE_LENGTHS,)),
    "diagnose.projects": Command((PROJECTS_READ, TASKS_READ)),
}  # fmt: skip

PROFILES: dict[str, tuple[str, ...]] = {
    "PRODUCT_OWNER": ("*",),
    "DEVELOPER": ("project.get", "project.list", "engineering.status", "respond"),
    "DEVOPS": ("project.get", "deploy.*", "infra.*", "respond"),
}


def expand(allowed: str | None) -> tuple[str, ...]:
    """The patterns an ALLOWED_COMMANDS value grants, profiles expanded."""
    patterns: list[str] = []
    for item in (allowed or "").split(","):
        name = item.strip()
        if name:
            patterns.extend(PROFILES.get(name.upper(), (name,)))
    return tuple(dict.fromkeys(patterns))


def is_allowed(command: str, patterns: tuple[str, ...]) -> bool:
    """`command` is `group.command` (or a lone command such as `respond`)."""
    return any(_matches(command, pattern) for pattern in patterns)


def commands_allowed(allowed: str | None) -> tuple[str, ...]:
    """The CLI commands an ALLOWED_COMMANDS value allows."""
    patterns = expand(allowed)
    return tuple(name for name in COMMANDS if is_allowed(name, patterns))


def scopes_for(commands: tuple[str, ...]) -> tuple[str, ...]:
    """The API scopes these commands need, in vocabulary order."""
    needed = {scope for name in commands for scope in COMMANDS[name].scopes}
    return tuple(scope for scope in SCOPES if scope in needed)


def redis_rights_for(commands: tuple[str, ...], worker_id: str) -> tuple[RedisRight, ...]:
    """The Redis rights these commands need, `{worker_id}` filled in, merged by command."""
    keys_by_command: dict[str, list[str]] = {}
    for name in commands:
        for right in COMMANDS[name].redis:
            for command in right.commands:
                keys = keys_by_command.setdefault(command, [])
                keys.extend(k.format(worker_id=worker_id) for k in right.keys if k not in keys)
    return tuple(
        RedisRight((command,), tuple(dict.fromkeys(keys)))
        for command, keys in sorted(keys_by_command.items())
    )


def commands_within(scopes: tuple[str, ...]) -> tuple[str, ...]:
    """The CLI commands whose API scopes all lie within `scopes`."""
    held = set(scopes)
    return tuple(name for name, command in COMMANDS.items() if set(command.scopes) <= held)


# A scoped key carries its scopes after its secret, so the CLI can tell what it may do without a
# request. The API stores the scopes and hashes the whole key: editing the claims breaks the key.
CLAIMS_SEPARATOR = "."


def encode_claims(scopes: tuple[str, ...]) -> str:
    raw = ",".join(scopes).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def key_claims(key: str) -> tuple[str, ...] | None:
    """The scopes a key says it carries, or None for a key that names none (full rights of
    its principal, or a key of another form). Never trusted by the API: advice for the CLI."""
    _, sep, claims = key.rpartition(CLAIMS_SEPARATOR)
    if not sep:
        return None
    try:
        text = base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    scopes = tuple(s for s in text.split(",") if s)
    return scopes if all(s in SCOPES for s in scopes) else None


def _matches(command: str, pattern: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return command.split(".", 1)[0] == pattern[:-2]
    return fnmatchcase(command, pattern)
