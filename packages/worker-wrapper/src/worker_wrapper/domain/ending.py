"""The worker's last words: the lifecycle event that says how it ended."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from shared.contracts import LifecycleEventKind

ERROR_CHARS = 4000


class WhyStopped(StrEnum):
    ASKED = "asked"
    """SIGTERM: worker-manager (or a person) stopped it."""
    DONE = "done"
    """Its work is done; the handler already reported how it went."""
    BROKE = "broke"
    """Something it runs ended or failed on its own."""


@dataclass(frozen=True)
class LastWords:
    event: LifecycleEventKind
    exit_code: int
    error: str | None = None


def last_words(why: WhyStopped, *, exit_code: int, failures: Mapping[str, str]) -> LastWords | None:
    """STOPPED when asked, FAILED (naming what broke) when something broke; nothing when the
    work is done: its own event is out already."""
    if why is WhyStopped.ASKED:
        return LastWords(LifecycleEventKind.STOPPED, exit_code)
    if why is WhyStopped.BROKE:
        error = "; ".join(f"{name}: {what}" for name, what in failures.items())
        return LastWords(LifecycleEventKind.FAILED, exit_code, error[:ERROR_CHARS] or None)
    return None
