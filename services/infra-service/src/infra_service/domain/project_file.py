"""`.project.yml`: what infra-service may know about a project — how to build, run and check it."""

from __future__ import annotations

import re
from typing import Annotated

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)

PROJECT_FILE = ".project.yml"

ServiceName = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
]
Command = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
_RELATIVE = re.compile(r"^(?!/)(?!.*(^|/)\.\.(/|$))[\w./-]*$")


class ProjectFileError(ValueError):
    """The repository's `.project.yml` is missing or does not say how to run the project."""


class ServiceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run: Command = Field(description="Starts the service; it must listen on $PORT.")
    health: str = Field(pattern=r"^/[\x21-\x7e]*$", max_length=200, description="Health path.")
    build: Command | None = Field(default=None, description="Builds the service, once per commit.")
    directory: str = Field(default=".", max_length=200, description="Where to build and run.")

    @field_validator("directory")
    @classmethod
    def _inside_the_repository(cls, directory: str) -> str:
        if not _RELATIVE.match(directory):
            raise ValueError("directory must be a relative path inside the repository")
        return directory


class ProjectSpec(BaseModel):
    """The first service is the project's entry point: it gets the project's port and URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    services: dict[ServiceName, ServiceSpec] = Field(min_length=1, max_length=20)

    @property
    def entry_point(self) -> str:
        return next(iter(self.services))


def parse_project_file(text: str) -> ProjectSpec:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProjectFileError(f"{PROJECT_FILE} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ProjectFileError(f"{PROJECT_FILE} must be a mapping with a `services` key")
    try:
        return ProjectSpec.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(root)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ProjectFileError(f"{PROJECT_FILE}: {problems}") from exc
