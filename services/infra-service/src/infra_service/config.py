"""infra-service's settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from shared.settings import (
    ApiClientSettings,
    DataDirSettings,
    RedisSettings,
    SecretSettings,
    ServiceSettings,
)


class InfraSettings(
    ServiceSettings, RedisSettings, ApiClientSettings, DataDirSettings, SecretSettings
):
    consumer_name: str = Field(default="infra-service-1", description="This replica's name.")
    deploy_concurrency: int = Field(default=2, ge=1, le=32, description="Deploys in flight.")
    provision_concurrency: int = Field(default=1, ge=1, le=32, description="Setups in flight.")
    health_concurrency: int = Field(
        default=4, ge=1, le=32, description="Server health checks in flight."
    )
    job_timeout_s: float = Field(default=1800, gt=0, description="A playbook's time limit.")
    shutdown_grace_s: float = Field(
        default=30,
        gt=0,
        description="On SIGTERM, or when a consumer ends, how long jobs in flight may take to "
        "finish before they are cancelled (and their entries left to be reclaimed).",
    )
    ssh_attempts: int = Field(default=3, ge=1, description="Tries before a server is unreachable.")
    ssh_backoff_s: float = Field(default=5, ge=0, description="First wait; it doubles each try.")
    ssh_connect_timeout_s: int = Field(default=10, ge=1, description="SSH connect timeout.")
    health_timeout_s: int = Field(default=60, ge=1, description="Wait for a service's health.")
    releases_kept: int = Field(default=3, ge=1, description="Releases kept per project.")
    data_dir: Path = Field(default=Path(".data/infra"), description="Job dirs and known_hosts.")
    local_deploy_root: Path = Field(
        default=Path(".data/deploy"), description="Where the `local` target runs projects."
    )
    app_ports: str = Field(
        default="20000:29999",
        pattern=r"^[0-9]{1,5}:[0-9]{1,5}$",
        description="The API's port range, opened in servers' firewalls.",
    )
    remote_deploy_root: str = Field(default="/srv/codegen", description="The same on servers.")
    forge_url: str = Field(default="https://github.com", description="Base of `owner/name` repos.")
    loop_lag_probe_ms: int = Field(
        default=0,
        ge=0,
        description="Every this many ms, measure how late the event loop wakes up; the worst lag "
        "is logged at stop and each stall over 50 ms as it happens (0: off).",
    )
    vm_steps_check_mode: bool = Field(
        default=False,
        description="Run the setup steps that need a full machine (Docker engine, firewall) in "
        "check mode: for container targets only.",
    )

    @property
    def claim_s(self) -> float:
        """How long a job may hold its request, its lock and its queue entry: longer than the
        longest playbook, so a redelivery or another replica waits instead of running it twice."""
        return self.job_timeout_s + 120

    @property
    def jobs_dir(self) -> Path:
        """Where each job's private directories (checkouts, ansible-runner's) are made."""
        return self.data_dir.resolve() / "jobs"

    @property
    def known_hosts(self) -> Path:
        """The servers' host keys, trusted on first use."""
        return self.data_dir.resolve() / "known_hosts"
