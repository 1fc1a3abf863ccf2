"""`.project.yml`: how to build, run, check and test a project, at the root of its repository.

The scaffolder writes it, infra-service reads it to deploy the project, and the tester reads each
service's `test` command. This module is the format's one home.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
)
from pydantic_core import ErrorDetails, PydanticCustomError

PROJECT_FILE = ".project.yml"
PROJECT_FILE_VERSION = 1

_TOO_NEW = "project_file_version"


def _one_line(command: str) -> str:
    # A deploy writes each command into a supervisor configuration: a line break there would
    # let one project's file add sections to the server's configuration.
    if "\x00" in command or command.splitlines() != [command]:
        raise ValueError("a command is one line: no line breaks or NUL characters")
    return command


ServiceName = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
]
Command = Annotated[
    str, StringConstraints(min_length=1, max_length=2000), AfterValidator(_one_line)
]
_RELATIVE = re.compile(r"^(?!/)(?!.*(^|/)\.\.(/|$))[\w./-]*$")


class ProjectFileError(ValueError):
    """A `.project.yml` that is not YAML, not a mapping, or does not follow the format."""


class ProjectService(BaseModel):
    """One service of the project: how to build, run, check and test it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    run: Command = Field(
        description="Starts the service, with `/bin/sh -c` in `directory`; it must listen on $PORT."
    )
    health: str = Field(
        pattern=r"^/[\x21-\x7e]*$",
        max_length=200,
        description="The path (starting with `/`) that answers 200 once the service is up.",
    )
    build: Command | None = Field(
        default=None,
        description="Builds the service, once per commit, in `directory`; none when omitted.",
    )
    test: Command | None = Field(
        default=None,
        description="One shell command that tests the service, run in `directory` of a fresh "
        "checkout: exit status 0 means the tests passed; none when omitted.",
    )
    directory: str = Field(
        default=".",
        max_length=200,
        description="Where to build, run and test: relative to the repository's root and inside "
        "it (no absolute path, no `..`).",
    )

    @field_validator("directory")
    @classmethod
    def _inside_the_repository(cls, directory: str) -> str:
        if not _RELATIVE.match(directory):
            raise ValueError("directory must be a relative path inside the repository, without ..")
        return directory


class ProjectFile(BaseModel):
    """The whole `.project.yml`. The first service is the project's entry point: it gets the
    project's port and URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(
        default=PROJECT_FILE_VERSION,
        ge=1,
        strict=True,
        description="The format's version; a version newer than this code reads is refused "
        "rather than guessed at. 1 when omitted.",
    )
    services: dict[ServiceName, ProjectService] = Field(
        min_length=1,
        max_length=20,
        description="The project's services by name (a DNS label of at most 40 characters), in "
        "order: the first is the entry point.",
    )

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version > PROJECT_FILE_VERSION:
            raise PydanticCustomError(
                _TOO_NEW,
                "version {version} is newer than this code reads (at most {known}): "
                "update the reader, or write version {known}",
                {"version": version, "known": PROJECT_FILE_VERSION},
            )
        return version

    @property
    def entry_point(self) -> str:
        """The first service's name: the one given the project's port and URL."""
        return next(iter(self.services))


def parse_project_file(text: str) -> ProjectFile:
    """The project file in `text`; `ProjectFileError` names the YAML error or each field at fault.

    A version newer than this code reads is the only fault reported for such a file: its other
    keys may be ones this code does not know.
    """
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ProjectFileError(f"{PROJECT_FILE} is not valid YAML: {exc}") from exc
    if not isinstance(document, dict):
        raise ProjectFileError(f"{PROJECT_FILE} must be a mapping with a `services` key")
    try:
        return ProjectFile.model_validate(document)
    except ValidationError as exc:
        errors = exc.errors()
        too_new = [error for error in errors if error["type"] == _TOO_NEW]
        problems = "; ".join(_problem(error) for error in too_new or errors)
        raise ProjectFileError(f"{PROJECT_FILE}: {problems}") from exc


def render_project_file(project: ProjectFile) -> str:
    """`project` as YAML that `parse_project_file` reads back to an equal model: the version
    always, services in order, keys left at their defaults omitted."""
    document: dict[str, Any] = {
        "version": project.version,
        "services": {
            name: service.model_dump(mode="json", exclude_defaults=True)
            for name, service in project.services.items()
        },
    }
    return yaml.safe_dump(document, sort_keys=False, width=2**20)


def _problem(error: ErrorDetails) -> str:
    where = ".".join(str(part) for part in error["loc"]) or "(root)"
    message = error["msg"]
    if error["type"] == "value_error":
        message = str(error.get("ctx", {}).get("error", message))
    return f"{where}: {message}"
