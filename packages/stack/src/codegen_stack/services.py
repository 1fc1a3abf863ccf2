"""Every service of the system as a program of the local stack: its command and the environment
that configures it (each setting its variable, as in production), in start order."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import httpx
from shared.contracts import AgentType

from codegen_stack.config import AGENT_VARIABLES, StackSettings
from codegen_stack.layout import Layout
from codegen_stack.supervisor import Probe, Program

BIN = Path(sys.executable).parent
# The pinned agent CLIs (`make agents`), when installed: workers find `claude` and `codex` here.
AGENT_BIN = Path(__file__).resolve().parents[4] / "tools" / "agents" / "node_modules" / ".bin"
MARKER = "CODEGEN_STACK_DIR"
"""Set in every process of a stack (workers included): how `codegen down` finds what is left."""
SERVICES = (
    "api", "scaffolder", "worker-manager", "infra-service", "langgraph-service", "telegram-bot",
    "scheduler",
)  # fmt: skip


@dataclass(frozen=True)
class Wiring:
    """Where the stack's parts are, once its servers run."""

    database_url: str
    redis_url: str
    api_url: str
    api_port: int
    api_key: str
    agent: AgentType
    agent_script: Path | None
    app_ports: tuple[int, int] | None = None  # the API's allocator range (the stack's block)


def base_env(layout: Layout) -> dict[str, str]:
    path = [str(BIN)]
    if AGENT_BIN.is_dir():
        path.append(str(AGENT_BIN))
    path.append(os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"))
    return {
        "PATH": os.pathsep.join(path),
        "HOME": str(layout.home),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
        "TZ": os.environ.get("TZ", "UTC"),
        MARKER: str(layout.root),
    }


def service_env(
    name: str, layout: Layout, wiring: Wiring, settings: StackSettings
) -> dict[str, str]:
    """The environment of one service: the variables its settings class reads."""
    common = {
        "ENVIRONMENT": "local",
        "LOG_FORMAT": "json",
        "LOG_LEVEL": "INFO",
        "REDIS_URL": wiring.redis_url,
        "API_URL": wiring.api_url,
        "API_KEY": wiring.api_key,
    }
    data_dir = str(layout.service_dir(name))
    own: dict[str, str]
    if name == "api":
        own = {
            "DATABASE_URL": wiring.database_url,
            "API_HOST": "127.0.0.1",
            "API_PORT": str(wiring.api_port),
        }
        if wiring.app_ports is not None:
            own["PORT_RANGE_START"], own["PORT_RANGE_END"] = map(str, wiring.app_ports)
        common = {k: common[k] for k in ("ENVIRONMENT", "LOG_FORMAT", "LOG_LEVEL")}
    elif name == "scaffolder":
        own = {"DATA_DIR": data_dir, "FORGE": "local", "LOCAL_FORGE_DIR": _forge_dir(layout)}
    elif name == "worker-manager":
        present = [v for v in AGENT_VARIABLES if os.environ.get(v)]
        own = {
            "DATA_DIR": data_dir,
            "BACKEND": "process",
            "WRAPPER_COMMAND": str(BIN / "worker-wrapper"),
            "WORKER_ENV_PASSTHROUGH": ",".join([MARKER, "SCRIPTED_AGENT_SCRIPT", *present]),
            **{v: os.environ[v] for v in present},
        }
        if wiring.agent_script is not None:
            own["SCRIPTED_AGENT_SCRIPT"] = str(wiring.agent_script)
    elif name == "infra-service":
        own = {"DATA_DIR": data_dir, "LOCAL_DEPLOY_ROOT": str(layout.deploy_root)}
    elif name == "langgraph-service":
        own = {
            "DATABASE_URL": wiring.database_url,
            "DEVELOPER_AGENT": wiring.agent.value,
            "TESTER_AGENT": settings.tester_agent.value,
            "MAX_ATTEMPTS": str(settings.max_attempts),
            "DEPLOY_SERVER": "local",
        }
    elif name == "telegram-bot":
        own = {
            "PO_AGENT": wiring.agent.value,
            "ADMIN_TELEGRAM_IDS": str(settings.telegram_id),
        }
        if settings.bot_token is not None:
            own |= {
                "MODE": "polling",
                "BOT_TOKEN": settings.bot_token.get_secret_value(),
                "BOT_API_URL": settings.bot_api_url,
            }
        else:
            own["MODE"] = "local"
    elif name == "scheduler":
        own = {
            # This machine is the one server: registered if missing, set up, checked.
            "SERVER_PROVIDER": "local",
            "FORGE": "local",
            "LOCAL_FORGE_DIR": _forge_dir(layout),
        }
    else:
        raise ValueError(f"no such service: {name}")
    return base_env(layout) | common | own


def _forge_dir(layout: Layout) -> str:
    """The local forge's repositories: made by scaffolder, checked by the scheduler."""
    return str(layout.service_dir("scaffolder") / "repositories")


def service_program(name: str, layout: Layout, wiring: Wiring, settings: StackSettings) -> Program:
    env = service_env(name, layout, wiring, settings)
    ready = _api_ready(wiring.api_url) if name == "api" else None
    return Program(name, [str(BIN / name)], env, layout.log(name), ready=ready, stop_grace_s=60)


def _api_ready(url: str) -> Probe:
    async def ready() -> bool:
        async with httpx.AsyncClient(base_url=url, timeout=2) as client:
            return (await client.get("/health")).status_code == 200

    return ready
