from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_stack_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A test sets the stack's settings itself: never the person's CODEGEN_* variables."""
    for variable in list(os.environ):
        if variable.startswith("CODEGEN_") and not variable.startswith("CODEGEN_TEST_"):
            monkeypatch.delenv(variable)
