"""The shape of ids in paths and filters: the API's ids are 32 hex characters."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import StringConstraints

ID_PATTERN = r"^[0-9a-f]{32}$"

IdPath = Annotated[str, Path(pattern=ID_PATTERN, description="The object's id.")]
IdFilter = Annotated[
    str | None, Query(pattern=ID_PATTERN, description="Only objects related to this id.")
]

MAX_IDS = 100
IdListFilter = Annotated[
    list[Annotated[str, StringConstraints(pattern=ID_PATTERN)]] | None,
    Query(
        max_length=MAX_IDS,
        description=f"Only these objects (repeat the parameter; at most {MAX_IDS}).",
    ),
]
