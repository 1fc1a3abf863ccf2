"""worker-manager's settings."""

from __future__ import annotations

import posixpath
import re
from pathlib import Path
from typing import Literal, Self

from pydantic import DirectoryPath, Field, field_validator, model_validator
from shared.contracts.base import SecretReference
from shared.settings import (
    ApiClientSettings,
    DataDirSettings,
    RedisSettings,
    SecretSettings,
    ServiceSettings,
)

from worker_manager.ports import WorkerMount

# worker-manager's own variables that every worker inherits (with WORKER_ENV_PASSTHROUGH's).
INHERITED_VARIABLES = ("PATH", "LANG", "TZ")
# A named volume, as the Docker Engine allows it.
VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")
WORKSPACE = "/workspace"


class ManagerSettings(
    ServiceSettings, RedisSettings, ApiClientSettings, DataDirSettings, SecretSettings
):
    """SECRETS_DIR and SECRET_ENV_PREFIX (`shared.settings.SecretSettings`) are where the secret
    references of workers' configs, and GITHUB_PRIVATE_KEY_REF, point."""

    backend: Literal["process", "docker"] = Field(default="process", description="Backend.")
    docker_image_prefix: str = Field(default="codegen-worker", description="Worker image names.")
    docker_base_image: str = Field(default="debian:bookworm-slim", description="FROM of images.")
    docker_network_mode: str = Field(default="host", description="Workers' container network.")
    worker_cpus: float = Field(default=1.0, gt=0, description="CPUs per worker container.")
    worker_memory: str = Field(default="2g", description="Memory limit per worker container.")
    worker_pids_limit: int = Field(default=512, gt=0, description="Processes per container.")
    worker_wheels_dir: Path | None = Field(
        default=None, description="Prebuilt wheels for worker images (else `uv build` here)."
    )
    worker_ca_certs_dir: DirectoryPath | None = Field(
        default=None,
        description="Extra CA certificates (its *.crt files) every worker image trusts, and every "
        "TLS client in it (pip, Python, Node); they are part of the image's tag.",
    )
    worker_volumes: str = Field(
        default="",
        description="Comma list of extra mounts of every worker container, source:target[:ro|rw]: "
        "a named volume or an absolute path of the engine's host, at an absolute path outside "
        "/workspace (docker backend only).",
    )
    workspace_storage: Literal["directory", "volume"] = Field(
        default="directory",
        description="A worker's /workspace: its directory under DATA_DIR, bound, or a named volume "
        "of its own (docker backend only: when worker-manager runs in a container, the engine "
        "cannot bind its directories).",
    )
    engine_grace_s: float = Field(
        default=120, gt=0, description="How long an unreachable engine may hide a worker."
    )
    image_gc_days: float = Field(default=14, gt=0, description="Remove images unused this long.")
    image_gc_interval_s: float = Field(default=3600, gt=0, description="How often to collect.")
    data_dir: Path = Field(default=Path(".data/workers"), description="Workers' workspaces.")
    max_workers: int = Field(default=10, ge=1, description="Live workers at most.")
    task_timeout_s: float = Field(default=1800, gt=0, description="An agent's time limit.")
    idle_timeout_s: float = Field(default=3600, gt=0, description="Pause workers idle this long.")
    monitor_interval_s: float = Field(default=2.0, gt=0, description="Deaths and idleness check.")
    worker_key_ttl_s: int = Field(default=24 * 3600, gt=0, description="Worker API key lifetime.")
    stop_grace_s: float = Field(default=10, ge=0, description="SIGTERM → SIGKILL on delete.")
    worker_redis_acl: bool = Field(
        default=True,
        description="Give each worker its own Redis users (ACL SETUSER): the wrapper's, limited "
        "to its worker's keys, and the agent's, limited to its commands. Needs a Redis whose "
        "default user has a password and a REDIS_URL allowed to manage ACL users.",
    )
    worker_redis_url: str | None = Field(
        default=None,
        repr=False,
        description="Where workers reach Redis, if not at REDIS_URL's address (its credentials "
        "are replaced by each worker's own).",
    )
    wrapper_command: str = Field(default="worker-wrapper", description="The wrapper executable.")
    worker_env_passthrough: str = Field(
        default="", description="Comma list of variables handed to every worker (agent config)."
    )
    shutdown_grace_s: float = Field(
        default=20,
        gt=0,
        description="On SIGTERM, or when an essential task ends, how long the others may take "
        "to finish what they hold before they are cancelled.",
    )
    consumer_name: str = Field(default="worker-manager-1", description="This replica's name.")
    command_concurrency: int = Field(
        default=4, ge=1, le=64, description="Commands this replica handles at once."
    )
    command_claim_idle_s: float = Field(
        default=120,
        gt=0,
        description="A command pending this long is handed to another consumer (a create still "
        "running there is refused, not repeated); should outlast a first image build.",
    )
    create_lease_s: float = Field(
        default=30, gt=0, description="A create's claim; renewed every third of it while it runs."
    )
    status_ttl_s: int = Field(
        default=24 * 3600,
        gt=0,
        description="How long a finished worker's status and heartbeat keys are kept.",
    )

    forge: Literal["local", "github"] = Field(
        default="local",
        description="Where projects' repositories live: local (bare repositories here; workers "
        "get no token) or github (a GitHub App mints each developer worker a token for its one "
        "repository).",
    )
    github_api_url: str = Field(default="https://api.github.com", description="GitHub's API.")
    github_app_id: str = Field(default="", description="The GitHub App's id.")
    github_private_key_ref: SecretReference | None = Field(
        default=None, description="The App's private key (PEM), as a secret reference."
    )
    github_owner: str = Field(default="", description="The organisation or user owning repos.")
    github_owner_kind: Literal["org", "user"] = Field(default="org", description="Owner kind.")

    @property
    def workspace_root(self) -> Path:
        return self.data_dir.resolve()

    @property
    def worker_mounts(self) -> tuple[WorkerMount, ...]:
        """WORKER_VOLUMES, parsed (validated at start-up)."""
        return parse_worker_volumes(self.worker_volumes)

    @property
    def inherited_variables(self) -> tuple[str, ...]:
        """The variables of worker-manager's environment handed to every worker."""
        passthrough = [n.strip() for n in self.worker_env_passthrough.split(",") if n.strip()]
        return (*INHERITED_VARIABLES, *passthrough)

    @property
    def command_claim_idle_ms(self) -> int:
        return int(self.command_claim_idle_s * 1000)

    @property
    def command_claim_interval_s(self) -> float:
        """How often each command consumer looks for commands pending too long elsewhere."""
        return self.command_claim_idle_s / 2

    @field_validator("worker_volumes")
    @classmethod
    def _volumes_are_mounts(cls, value: str) -> str:
        parse_worker_volumes(value)
        return value

    @model_validator(mode="after")
    def _containers_only(self) -> Self:
        # Mounts and volumes mean something to a container engine only.
        if self.backend != "docker":
            if self.worker_volumes.strip():
                raise ValueError("WORKER_VOLUMES needs BACKEND=docker")
            if self.workspace_storage == "volume":
                raise ValueError("WORKSPACE_STORAGE=volume needs BACKEND=docker")
        return self

    @model_validator(mode="after")
    def _idle_outlasts_a_task(self) -> Self:
        # A worker busy with a long task would otherwise look idle and be paused mid-task.
        if self.idle_timeout_s <= self.task_timeout_s:
            raise ValueError("idle_timeout_s must be greater than task_timeout_s")
        return self

    @model_validator(mode="after")
    def _github_is_complete(self) -> Self:
        if self.forge == "github" and not (
            self.github_app_id and self.github_private_key_ref and self.github_owner
        ):
            raise ValueError(
                "forge github needs GITHUB_APP_ID, GITHUB_PRIVATE_KEY_REF and GITHUB_OWNER"
            )
        return self


def parse_worker_volumes(value: str) -> tuple[WorkerMount, ...]:
    """`source:target[:ro|rw]`, comma-separated: a named volume or an absolute host path (as the
    engine sees it), at an absolute target that is neither /workspace nor under it, each target
    once. Raises ValueError naming the entry at fault."""
    mounts: list[WorkerMount] = []
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        parts = entry.split(":")
        if len(parts) not in (2, 3):
            raise ValueError(f"WORKER_VOLUMES entry {entry!r}: expected source:target[:ro|rw]")
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) == 3 else "rw"
        if mode not in ("ro", "rw"):
            raise ValueError(f"WORKER_VOLUMES entry {entry!r}: the mode must be ro or rw")
        if not (source.startswith("/") or VOLUME_NAME.fullmatch(source)):
            raise ValueError(
                f"WORKER_VOLUMES entry {entry!r}: the source must be a volume name or an "
                "absolute path"
            )
        if not target.startswith("/"):
            raise ValueError(f"WORKER_VOLUMES entry {entry!r}: the target must be absolute")
        target = posixpath.normpath("/" + target.lstrip("/"))  # `//x` and `/a/../x` are `/x`
        if target == "/" or target == WORKSPACE or target.startswith(f"{WORKSPACE}/"):
            raise ValueError(
                f"WORKER_VOLUMES entry {entry!r}: the target may not be / nor /workspace or "
                "under it (the worker's workspace)"
            )
        if any(m.target == target for m in mounts):
            raise ValueError(f"WORKER_VOLUMES entry {entry!r}: {target} is mounted twice")
        mounts.append(WorkerMount(source, target, read_only=mode == "ro"))
    return tuple(mounts)
