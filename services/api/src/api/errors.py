"""Domain errors carry their HTTP status; one set of handlers turns every error into one shape."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from shared.contracts import ErrorDetail, ErrorResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger("api")


class DomainError(Exception):
    status_code = 400
    error = "bad_request"

    def __init__(
        self, message: str, *, field: str | None = None, context: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.context = context or {}


class NotFound(DomainError):
    status_code = 404
    error = "not_found"


class Conflict(DomainError):
    status_code = 409
    error = "conflict"


class InvalidTransition(Conflict):
    error = "invalid_transition"


class Forbidden(DomainError):
    status_code = 403
    error = "forbidden"


class Unauthorized(DomainError):
    status_code = 401
    error = "unauthorized"


class InvalidReference(DomainError):
    status_code = 422
    error = "invalid_reference"


def _respond(
    status: int,
    error: str,
    message: str,
    details: list[ErrorDetail] | None = None,
    context: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = ErrorResponse(error=error, message=message, details=details or [], context=context or {})
    return JSONResponse(body.model_dump(mode="json"), status_code=status, headers=headers)


async def _domain_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    details = [ErrorDetail(field=exc.field, message=exc.message)] if exc.field else []
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return _respond(exc.status_code, exc.error, exc.message, details, exc.context, headers)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        ErrorDetail(
            field=_printable(".".join(str(p) for p in err["loc"] if p != "body")) or None,
            message=_printable(str(err["msg"])),
        )
        for err in exc.errors()
    ]
    fields = ", ".join(d.field for d in details if d.field) or "the request"
    return _respond(422, "validation_error", f"invalid {fields}", details)


def _printable(text: str) -> str:
    """What a client sent, fit to be echoed in an answer: a body's key may hold NUL characters
    or lone surrogates, which the answer itself may not."""
    return text.replace("\x00", "\\x00").encode("utf-8", "backslashreplace").decode("utf-8")


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers) if exc.headers else None
    return _respond(exc.status_code, error, str(exc.detail), headers=headers)


async def _integrity_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, IntegrityError)
    constraint = getattr(getattr(exc.orig, "__cause__", None), "constraint_name", None)
    return _respond(
        409,
        "conflict",
        "the change conflicts with existing data",
        context={"constraint": constraint} if constraint else {},
    )


async def _database_error(_: Request, exc: Exception) -> JSONResponse:
    log.error("database error", error=str(exc))
    return _respond(503, "database_unavailable", "the database could not serve the request")


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return _respond(500, "internal_error", "an unexpected error occurred")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(OSError, _database_error)
    app.add_exception_handler(Exception, _unexpected)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the error statuses a route can answer."""
    descriptions = {
        400: "The request could not be parsed",
        401: "Missing, unknown, expired or revoked API key",
        403: "The key's principal or scopes do not allow this",
        404: "No such object (or not yours)",
        409: "Conflicts with the current state",
        422: "Invalid input; `details` names the fields",
        503: "The database is unavailable",
    }
    return {s: {"model": ErrorResponse, "description": descriptions[s]} for s in statuses}
