"""The services' JSON log lines made readable: time, program (one colour each), level, event and
its fields; lines that are not JSON are shown as they are."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.text import Text

COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta",
           "bright_green", "bright_blue")  # fmt: skip
LEVEL_STYLES = {"warning": "yellow", "error": "bold red", "critical": "bold red", "debug": "dim"}
HIDDEN_FIELDS = {"event", "level", "timestamp", "service", "logger"}
WIDTH = 17


class LogPrinter:
    """A sink for the supervisor: each program's lines on the console."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        """Only warnings and errors."""
        self._colours: dict[str, str] = {}

    def __call__(self, program: str, line: str) -> None:
        text = render(program, line, self._colour(program), quiet=self.quiet)
        if text is not None:
            self.console.print(text, soft_wrap=True, highlight=False)

    def _colour(self, program: str) -> str:
        return self._colours.setdefault(program, COLOURS[len(self._colours) % len(COLOURS)])


def render(program: str, line: str, colour: str, *, quiet: bool = False) -> Text | None:
    entry = _json(line)
    if entry is None:
        if quiet:
            return None
        return Text.assemble((f"{program:<{WIDTH}}", colour), " ", line)
    level = str(entry.get("level", "info")).lower()
    if quiet and level not in ("warning", "error", "critical"):
        return None
    time = str(entry.get("timestamp", ""))[11:19]
    fields = " ".join(
        f"{key}={_short(value)}" for key, value in entry.items() if key not in HIDDEN_FIELDS
    )
    return Text.assemble(
        (f"{time} ", "dim"),
        (f"{program:<{WIDTH}}", colour),
        " ",
        (f"{entry.get('event', '')}", LEVEL_STYLES.get(level, "")),
        (f" {fields}" if fields else "", "dim"),
    )


def _json(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        entry = json.loads(line)
    except json.JSONDecodeError:
        return None
    return entry if isinstance(entry, dict) else None


def _short(value: Any, limit: int = 200) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
