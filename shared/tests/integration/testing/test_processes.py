"""Service processes in tests: output kept, stopped by SIGTERM, a process that will not stop
fails the test and is killed anyway."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from shared.settings import ApiClientSettings
from shared.testing.processes import ServiceProcess, settings_env

POLITE = (
    "import signal, sys; signal.signal(signal.SIGTERM, lambda *_: sys.exit(7)); "
    "print('up', flush=True); signal.pause()"
)
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    "print('up', flush=True); time.sleep(600)"
)


def test_a_process_stopped_by_sigterm_gives_its_exit_code_and_its_output(tmp_path: Path) -> None:
    process = ServiceProcess([sys.executable, "-c", POLITE], {}, tmp_path / "polite.log")
    try:
        _wait_for_output(process)
    finally:
        code = process.stop()
    assert code == 7
    assert process.logs() == "up\n"


def test_a_process_that_ignores_sigterm_is_killed_and_fails_the_test(tmp_path: Path) -> None:
    process = ServiceProcess([sys.executable, "-c", STUBBORN], {}, tmp_path / "stubborn.log")
    _wait_for_output(process)
    with pytest.raises(AssertionError, match=r"did not stop within 0\.5 s of SIGTERM"):
        process.stop(within=0.5)
    assert process.exit_code == -9


def test_settings_become_exactly_their_variables() -> None:
    settings = ApiClientSettings(api_url="http://api", api_key=SecretStr("k"), api_timeout_s=3)
    assert settings_env(settings) == {
        "API_URL": "http://api",
        "API_KEY": "k",
        "API_TIMEOUT_S": "3.0",
    }


def _wait_for_output(process: ServiceProcess) -> None:
    from shared.testing.waiting import until

    until(lambda: process.logs() == "up\n", 30)
