"""Waiting in tests for something another process or task does."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], within: float = 30.0, interval: float = 0.05
) -> T:
    """Call `check` until it returns something true, and return that; fail after `within` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {within} s")
        await asyncio.sleep(interval)


def until(check: Callable[[], T], within: float = 30.0, interval: float = 0.05) -> T:
    """`eventually` for code without an event loop (a test driving processes)."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {within} s")
        time.sleep(interval)
