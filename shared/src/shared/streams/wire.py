"""The wire format of a stream entry: one field, `data`, holding the DTO as JSON."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

DATA_FIELD = "data"


class InvalidEntry(ValueError):
    """A stream entry that does not carry a valid DTO."""


def encode(message: BaseModel) -> dict[str, str]:
    return {DATA_FIELD: message.model_dump_json()}


def decode(fields: dict[str, str], adapter: TypeAdapter[Any]) -> Any:
    """The DTO an entry carries; raises InvalidEntry naming what is wrong."""
    if set(fields) != {DATA_FIELD}:
        raise InvalidEntry(
            f"entry must have exactly one field {DATA_FIELD!r}, got {sorted(fields)}"
        )
    try:
        return adapter.validate_json(fields[DATA_FIELD])
    except ValidationError as exc:
        raise InvalidEntry(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}"
        for err in exc.errors(include_url=False)
    ]
    return "; ".join(problems)
