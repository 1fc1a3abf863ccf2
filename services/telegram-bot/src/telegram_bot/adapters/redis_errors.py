"""Redis out of reach, as the ports say it: `Unavailable`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shared.streams.consumer import REDIS_UNAVAILABLE

from telegram_bot.ports import Unavailable


@contextmanager
def redis_unavailable() -> Iterator[None]:
    try:
        yield
    except REDIS_UNAVAILABLE as exc:
        raise Unavailable(f"Redis: {type(exc).__name__}: {exc}"[:500]) from exc
