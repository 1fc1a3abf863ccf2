"""Enums shared by several domains."""

from __future__ import annotations

from enum import StrEnum


class OutcomeStatus(StrEnum):
    """How a piece of delegated work ended."""

    SUCCESS = "success"
    FAILED = "failed"
    ERROR = "error"
    TIMEOUT = "timeout"
