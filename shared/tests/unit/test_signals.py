from __future__ import annotations

import asyncio
import os
import signal

import pytest
from shared.signals import stop_on_signals


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_stop_signal_sets_the_event(sig: signal.Signals) -> None:
    stop = stop_on_signals()
    try:
        os.kill(os.getpid(), sig)
        await asyncio.wait_for(stop.wait(), 5)
    finally:
        asyncio.get_running_loop().remove_signal_handler(sig)
    assert stop.is_set()
