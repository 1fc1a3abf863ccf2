"""Every way a command can fail, each with its kind (printed as `error`) and exit code."""

from __future__ import annotations

from typing import Any


class CliError(Exception):
    kind = "Error"
    exit_code = 1

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}


class InvalidArguments(CliError):
    kind = "InvalidArguments"
    exit_code = 2


class PermissionDenied(CliError):
    kind = "PermissionDenied"
    exit_code = 3


class NotFound(CliError):
    kind = "NotFound"
    exit_code = 4


class Conflict(CliError):
    kind = "Conflict"
    exit_code = 5


class ApiError(CliError):
    """The API answered with an error other than not-found or conflict."""

    kind = "ApiError"
    exit_code = 6


class ApiUnavailable(CliError):
    kind = "ApiUnavailable"
    exit_code = 7
    refused = False
    """The connection was refused: the request never reached the API."""


class RedisUnavailable(CliError):
    kind = "RedisUnavailable"
    exit_code = 8


class PublishFailed(CliError):
    """The task exists but could not be queued; it was marked failed."""

    kind = "PublishFailed"
    exit_code = 9


class Timeout(CliError):
    kind = "Timeout"
    exit_code = 10


class ConfigurationError(CliError):
    kind = "ConfigurationError"
    exit_code = 11


class InternalError(CliError):
    kind = "InternalError"
    exit_code = 70
