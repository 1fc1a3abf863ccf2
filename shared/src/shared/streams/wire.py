"""The wire format of a stream entry: one field, `data`, holding the DTO as JSON.

Entries are read as bytes and turned into text here, one entry at a time, so one entry that is
not UTF-8 is that entry's problem, never the reader's. Validation at the door is strict: types
are not coerced (`true` is not a port, `"yes"` is not a boolean, `"1"` is not a version).
"""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

DATA_FIELD = "data"


class InvalidEntry(ValueError):
    """A stream entry that does not carry a valid DTO."""


class UndecodableEntry(InvalidEntry):
    """A stream entry whose field names or values are not UTF-8 text."""


def encode(message: BaseModel) -> dict[str, str]:
    return {DATA_FIELD: message.model_dump_json()}


def text_fields(raw: Sequence[bytes | str]) -> dict[str, str]:
    """An entry's fields (names and values alternating, as Redis keeps them) as text.

    Raises UndecodableEntry when one is not UTF-8 and InvalidEntry when a name repeats (Redis
    keeps both; a reader that kept only one would act on a value nobody can see in the entry)."""
    try:
        items = [item if isinstance(item, str) else item.decode("utf-8") for item in raw]
    except UnicodeDecodeError as exc:
        raise UndecodableEntry(
            f"entry is not UTF-8 text: {exc.reason} at byte {exc.start}"
        ) from exc
    names = items[0::2]
    repeated = sorted(name for name, count in Counter(names).items() if count > 1)
    if repeated:
        raise InvalidEntry(f"entry repeats field(s) {repeated}")
    return dict(zip(names, items[1::2], strict=True))


def readable_fields(raw: Sequence[bytes | str]) -> dict[str, str]:
    """The fields as text for people, whatever they hold (undecodable bytes escaped)."""
    items = [
        item if isinstance(item, str) else item.decode("utf-8", errors="backslashreplace")
        for item in raw
    ]
    return dict(zip(items[0::2], items[1::2], strict=False))


def base64_fields(raw: Sequence[bytes | str]) -> list[str]:
    """Every name and value, alternating, base64-encoded: the entry exactly as it was."""
    return [
        base64.b64encode(item.encode() if isinstance(item, str) else item).decode("ascii")
        for item in raw
    ]


def decode(fields: dict[str, str], adapter: TypeAdapter[Any]) -> Any:
    """The DTO an entry carries; raises InvalidEntry naming what is wrong."""
    if set(fields) != {DATA_FIELD}:
        raise InvalidEntry(
            f"entry must have exactly one field {DATA_FIELD!r}, got {sorted(fields)[:10]}"
        )
    try:
        return adapter.validate_json(fields[DATA_FIELD], strict=True)
    except ValidationError as exc:
        raise InvalidEntry(describe_validation_error(exc)) from exc


def describe_validation_error(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in err['loc'])[:200] or '<root>'}: {err['msg']}"
        for err in exc.errors(include_url=False)[:20]
    ]
    return "; ".join(problems)
