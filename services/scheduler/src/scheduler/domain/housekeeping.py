"""Stream housekeeping's rules: which dead-letter streams grew, and what admins are told."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

DLQ_SUFFIX = ":dlq"
TITLE_LIMIT = 300


@dataclass(frozen=True)
class Growth:
    stream: str
    added: int
    total: int


def dead_letter_growth(seen: Mapping[str, int], now: Mapping[str, int]) -> list[Growth]:
    """The dead-letter streams holding more than at the last run, largest growth first. A stream
    that shrank (an operator emptied it) is not news: its new length is the next baseline."""
    grown = [
        Growth(stream, count - seen.get(stream, 0), count)
        for stream, count in now.items()
        if count > seen.get(stream, 0)
    ]
    return sorted(grown, key=lambda growth: (-growth.added, growth.stream))


def alert_title(grown: list[Growth]) -> str:
    """One line, unique to this growth (an open incident with the same title is not repeated)."""
    parts = [f"{g.stream.removesuffix(DLQ_SUFFIX)} +{g.added} ({g.total})" for g in grown]
    title = "New dead letters: " + ", ".join(parts)
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"


def alert_details(grown: list[Growth]) -> str:
    lines = [
        f"{g.stream}: {g.added} new, {g.total} in all" for g in grown
    ]  # one per dead-letter stream
    return (
        "Entries were given up on and moved to these dead-letter streams. Each entry keeps the "
        "original message and why it failed (XRANGE <stream> - +).\n" + "\n".join(lines)
    )
