"""Building blocks every contract shares: the message envelope and the model configurations."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

CONTRACT_VERSION = 1

# Ids end up in URL paths, Redis keys, file names and argv: letters, digits and a few separators,
# never a slash, a space or a leading dash.
Identifier = Annotated[
    str,
    StringConstraints(
        min_length=1,
        max_length=128,
        strip_whitespace=True,
        pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.:@+=-]*$",
    ),
]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
# A project name doubles as a repository and host name, so it follows DNS label rules.
Slug = Annotated[
    str,
    StringConstraints(min_length=1, max_length=63, pattern=r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$"),
]
Port = Annotated[int, Field(ge=1, le=65535)]
CommitSha = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{4,64}$")]


def _no_traversal_or_option_host(value: str) -> str:
    """No `.`/`..` path segments, and no URL whose host reads as an option (`ssh://-oProxy…`)."""
    _, separator, rest = value.partition("://")
    if separator and rest.startswith("-"):
        raise ValueError("a repository's host must not start with '-'")
    path = rest if separator else value.removeprefix("file:").removeprefix("env:")
    if any(segment in {".", ".."} for segment in path.split("/")):
        raise ValueError("a reference must not contain '.' or '..' segments")
    return value


# A git branch: no leading dash, no `..`, no space or control codes, nothing git reads as special.
def _git_ref_rules(value: str) -> str:
    """What `git check-ref-format` refuses, beyond the characters the pattern allows."""
    if ".." in value or "//" in value or value.endswith(".lock") or "/." in value:
        raise ValueError("not a valid git branch name")
    return value


GitBranch = Annotated[
    str,
    AfterValidator(_git_ref_rules),
    StringConstraints(
        min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_][A-Za-z0-9_./-]*[A-Za-z0-9_]$|^\w$"
    ),
]
EnvName = Annotated[str, StringConstraints(max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
# `env:NAME` or `file:relative/path` (see shared.secrets); never `..`.
SecretReference = Annotated[
    str,
    AfterValidator(_no_traversal_or_option_host),
    StringConstraints(
        max_length=256,
        pattern=r"^(env:[A-Za-z_][A-Za-z0-9_]*|file:[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*)$",
    ),
]
RepositoryReference = Annotated[
    str,
    AfterValidator(_no_traversal_or_option_host),
    StringConstraints(
        max_length=1024,
        pattern=r"^([A-Za-z0-9_][A-Za-z0-9_.-]*/[A-Za-z0-9_][A-Za-z0-9_.-]*"
        r"|(https?|ssh|git|file)://[A-Za-z0-9_.~@\[\]:/%+=][A-Za-z0-9_.~@\[\]:/%+=-]*"
        r"|/[A-Za-z0-9_.~@/%+=-]*)$",
    ),
]


def new_id() -> str:
    return uuid.uuid4().hex


def utc_now() -> datetime:
    return datetime.now(UTC)


class Message(BaseModel):
    """A message carried by a Redis stream.

    Messages are tolerant readers: unknown fields are ignored, so a producer can add a field
    before every consumer knows it. Wrong types and missing required fields are rejected, and
    on the wire nothing is coerced (`shared.streams.wire.decode` validates strictly).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, use_enum_values=False)

    request_id: Identifier = Field(
        default_factory=new_id,
        description="Unique per logical request; the idempotency key of every handler.",
    )
    correlation_id: Identifier = Field(
        default_factory=new_id,
        description="The trace through a whole flow, copied from the message that caused this one.",
    )
    version: int = Field(
        default=CONTRACT_VERSION,
        ge=1,
        le=CONTRACT_VERSION,
        description="Contract version of the message; a version this code does not know is "
        "refused rather than guessed at.",
    )
    timestamp: datetime = Field(
        default_factory=utc_now, description="When the message was created (UTC)."
    )

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        _check_storable(value, info.field_name or "")
        return value


# Postgres (and most storage) cannot hold these; refusing them here keeps bad input a 422.
Int32 = Annotated[int, Field(ge=-(2**31), lt=2**31)]
Count = Annotated[int, Field(ge=0, lt=2**63)]


def _check_storable(value: Any, path: str) -> None:
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{path}: text must not contain NUL characters")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ValueError(f"{path}: text must be valid Unicode") from exc
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{path}: numbers must be finite")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key, path)
            _check_storable(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            _check_storable(item, f"{path}.{index}")


class RestModel(BaseModel):
    """A REST body or response: unknown fields are an error, so typos never pass silently."""

    model_config = ConfigDict(extra="forbid", from_attributes=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _storable(cls, value: Any, info: ValidationInfo) -> Any:
        _check_storable(value, info.field_name or "")
        return value
