"""scaffolder's settings."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from shared.settings import ApiClientSettings, DataDirSettings, RedisSettings, ServiceSettings

# The template shipped with the system: templates/service-template in the repository.
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[4] / "templates" / "service-template"


class ScaffolderSettings(ServiceSettings, RedisSettings, ApiClientSettings, DataDirSettings):
    data_dir: Path = Field(default=Path(".data/scaffolder"), description="Scratch space, forge.")
    forge: Literal["local", "github"] = Field(default="local", description="Where repos live.")
    local_forge_dir: Path | None = Field(
        default=None, description="The local forge's bare repositories (default DATA_DIR/repos)."
    )
    github_api_url: str = Field(default="https://api.github.com", description="GitHub's API.")
    github_app_id: str = Field(default="", description="The GitHub App's id.")
    github_private_key: SecretStr | None = Field(
        default=None, description="The GitHub App's private key (PEM); forge github only."
    )
    github_owner: str = Field(default="", description="The organisation or user owning repos.")
    github_owner_kind: Literal["org", "user"] = Field(default="org", description="Owner kind.")
    github_private_repos: bool = Field(default=True, description="Create private repositories.")
    template_dir: Path = Field(default=DEFAULT_TEMPLATE, description="The copier template.")
    git_author_name: str = Field(default="codegen-scaffolder", description="Commit author.")
    git_author_email: str = Field(default="scaffolder@codegen.local", description="Its email.")
    git_timeout_s: float = Field(default=300, gt=0, description="A git command's time limit.")
    forge_attempts: int = Field(default=5, ge=1, le=20, description="Tries when the forge is down.")
    forge_first_delay_s: float = Field(default=1.0, ge=0, description="First retry's delay.")
    concurrency: int = Field(default=2, ge=1, le=32, description="Scaffolds at once.")
    claim_idle_s: float = Field(
        default=600, gt=0, description="A request pending this long is handed to another consumer."
    )
    shutdown_grace_s: float = Field(default=60, gt=0, description="Grace on SIGTERM.")
    consumer_name: str = Field(default="scaffolder-1", description="This replica's name.")

    @model_validator(mode="after")
    def _github_is_complete(self) -> Self:
        if self.forge == "github" and not (
            self.github_app_id and self.github_private_key and self.github_owner
        ):
            raise ValueError(
                "forge github needs GITHUB_APP_ID, GITHUB_PRIVATE_KEY and GITHUB_OWNER"
            )
        return self

    @property
    def repositories_dir(self) -> Path:
        return (self.local_forge_dir or self.data_dir / "repositories").resolve()

    @property
    def scratch_dir(self) -> Path:
        """This replica's scratch space: emptied when it starts (a killed one leaves work)."""
        return (self.data_dir / "scratch" / self.consumer_name).resolve()
