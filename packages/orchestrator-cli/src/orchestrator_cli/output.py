"""The one JSON object every invocation prints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from orchestrator_cli.errors import CliError


@dataclass(frozen=True)
class Outcome:
    payload: dict[str, Any]
    exit_code: int

    def render(self) -> str:
        return json.dumps(self.payload, default=str, ensure_ascii=False)


def success(data: Any, message: str = "") -> Outcome:
    return Outcome({"success": True, "data": data, "message": message}, 0)


def failure(error: CliError) -> Outcome:
    payload = {
        "success": False,
        "error": error.kind,
        "message": error.message,
        "details": error.details,
    }
    return Outcome(payload, error.exit_code)
