"""Wrapper processes that never outlive their test, and show their logs when it fails."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest_asyncio
from wrapper_testing import Wrapper


@pytest_asyncio.fixture
async def start_wrapper(tmp_path: Path) -> AsyncIterator[Callable[[dict[str, str]], Wrapper]]:
    """Start a wrapper with an environment; at teardown (passed or failed) it and everything it
    started are stopped, and its log tail is printed (pytest shows it when the test fails)."""
    started: list[Wrapper] = []

    def start(env: dict[str, str]) -> Wrapper:
        wrapper = Wrapper(env, tmp_path / f"wrapper-{len(started)}.log")
        started.append(wrapper)
        return wrapper

    try:
        yield start
    finally:
        with contextlib.ExitStack() as closing:  # each one closed, even after one failed to stop
            for wrapper in started:
                closing.callback(wrapper.close)
