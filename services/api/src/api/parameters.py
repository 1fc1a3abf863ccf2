"""Checks on query and path parameters that every route shares."""

from __future__ import annotations

from fastapi import Request
from fastapi.exceptions import RequestValidationError


async def refuse_unstorable_parameters(request: Request) -> None:
    """A NUL character can never be stored or matched (Postgres refuses it in text): a 422 naming
    the parameter, not a database error."""
    problems = [
        {
            "loc": (where, name.replace("\x00", "\\x00")),
            "msg": "must not contain NUL characters",
            "type": "value_error",
        }
        for where, parameters in (
            ("query", request.query_params.multi_items()),
            ("path", list(request.path_params.items())),
        )
        for name, value in parameters
        if "\x00" in str(value) or "\x00" in name
    ]
    if problems:
        raise RequestValidationError(problems)
