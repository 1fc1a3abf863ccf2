"""Tests' crash points: `point:N` makes the process kill itself (SIGKILL, as `kill -9` would)
the Nth time it reaches that point. Empty in every real deployment."""

from __future__ import annotations

import os
import signal
import sys
from collections import Counter


class SignalCrash:
    def __init__(self, crash_at: str) -> None:
        name, _, count = crash_at.partition(":")
        self._target = (name, int(count)) if name else None
        self._seen: Counter[str] = Counter()

    def point(self, name: str) -> None:
        if self._target is None or name != self._target[0]:
            return
        self._seen[name] += 1
        if self._seen[name] == self._target[1]:
            print(f"crash point {name}:{self._seen[name]} reached: SIGKILL", file=sys.stderr)
            sys.stderr.flush()
            os.kill(os.getpid(), signal.SIGKILL)
