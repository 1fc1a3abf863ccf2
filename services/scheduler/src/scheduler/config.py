"""scheduler's settings: the schedule (intervals, lease, jitter) and what each job needs."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from shared.contracts.base import SecretReference
from shared.settings import ApiClientSettings, RedisSettings, SecretSettings, ServiceSettings

DISABLED = "0: never"


class SchedulerSettings(ServiceSettings, RedisSettings, ApiClientSettings, SecretSettings):
    consumer_name: str = Field(
        default="scheduler-1",
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.@+=-]{0,63}$",
        description="This replica's name: the holder of the leases it takes.",
    )
    # The schedule.
    lease_s: float = Field(
        default=60,
        gt=0,
        description="How long a run holds its job without renewing; renewed every third of it. "
        "A replica killed mid-run holds its job at most this long.",
    )
    poll_s: float = Field(
        default=5,
        gt=0,
        description="Longest wait before a replica looks at a job again (a job another replica "
        "runs, or one whose next run another replica set).",
    )
    jitter: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Each next run is put off by up to this share of its interval, at random.",
    )
    run_timeout_s: float = Field(
        default=1800,
        gt=0,
        description="A run still going after this long is cancelled and recorded failed: "
        "nothing a job waits for can hold its job forever.",
    )
    shutdown_grace_s: float = Field(
        default=30, gt=0, description="On SIGTERM, how long a run in flight may take to finish."
    )
    # The jobs' intervals (0: the job never runs).
    streams_interval_s: float = Field(
        default=300, ge=0, description=f"Stream housekeeping: trim, dead letters ({DISABLED})."
    )
    server_health_interval_s: float = Field(
        default=60, ge=0, description=f"Server health checks ({DISABLED})."
    )
    provisioning_interval_s: float = Field(
        default=30, ge=0, description=f"Provisioning retries of pending_setup servers ({DISABLED})."
    )
    server_sync_interval_s: float = Field(
        default=600, ge=0, description=f"Server sync from the provider ({DISABLED})."
    )
    repository_sync_interval_s: float = Field(
        default=3600, ge=0, description=f"Repository sync from the forge ({DISABLED})."
    )
    stale_work_interval_s: float = Field(
        default=600, ge=0, description=f"Stale tasks and ownerless workers ({DISABLED})."
    )
    # Provisioning retries.
    provisioning_backoff_s: float = Field(
        default=60, gt=0, description="The first retry's delay after a provisioning request."
    )
    provisioning_backoff_max_s: float = Field(
        default=3600, gt=0, description="The longest delay; it doubles up to this."
    )
    provisioning_answer_wait_s: float = Field(
        default=2100,
        gt=0,
        description="How long a provisioning request may go unanswered before the next one may "
        "go (longer than infra-service's JOB_TIMEOUT_S: a setup in flight is not asked again).",
    )
    # Server sync.
    server_provider: Literal["local", "hetzner", "none"] = Field(
        default="local",
        description="Where servers come from: `local` (the embedded machine, one server), "
        "`hetzner` (Hetzner Cloud's API), `none`.",
    )
    local_server_name: str = Field(default="local", description="The embedded machine's server.")
    local_server_address: str = Field(default="127.0.0.1", description="Its address.")
    hetzner_api_url: str = Field(
        default="https://api.hetzner.cloud/v1", description="Hetzner Cloud's API."
    )
    hetzner_token_ref: SecretReference | None = Field(
        default=None, description="Hetzner Cloud's API token, as a secret reference."
    )
    provider_ssh_key_ref: str | None = Field(
        default=None,
        max_length=255,
        description="The SSH key reference given to servers the provider adds.",
    )
    # Repository sync.
    forge: Literal["local", "github"] = Field(default="local", description="Where repos live.")
    local_forge_dir: Path | None = Field(
        default=None, description="The local forge's bare repositories (scaffolder's)."
    )
    github_api_url: str = Field(default="https://api.github.com", description="GitHub's API.")
    github_app_id: str = Field(default="", description="The GitHub App's id.")
    github_private_key_ref: SecretReference | None = Field(
        default=None, description="The GitHub App's private key (PEM), as a secret reference."
    )
    github_owner: str = Field(default="", description="The organisation or user owning repos.")
    git_timeout_s: float = Field(default=60, gt=0, description="A git command's time limit.")
    # Stale work.
    stale_task_after_s: float = Field(
        default=4 * 3600,
        gt=0,
        description="A task queued or running this long after its last change is handed to its "
        "flow's timeout path (longer than every stage's time limit, all attempts included).",
    )
    worker_orphan_after_s: float = Field(
        default=3600,
        gt=0,
        description="A developer worker alive this long after its task ended is deleted.",
    )

    @model_validator(mode="after")
    def _what_the_chosen_provider_and_forge_need(self) -> SchedulerSettings:
        if self.forge == "github" and not (
            self.github_app_id and self.github_private_key_ref and self.github_owner
        ):
            raise ValueError(
                "FORGE github needs GITHUB_APP_ID, GITHUB_PRIVATE_KEY_REF, GITHUB_OWNER"
            )
        if self.server_provider == "hetzner" and self.hetzner_token_ref is None:
            raise ValueError("SERVER_PROVIDER hetzner needs HETZNER_TOKEN_REF")
        return self
