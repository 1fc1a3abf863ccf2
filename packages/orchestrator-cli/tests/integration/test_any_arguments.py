"""Whatever arguments an agent passes, stdout is exactly one JSON object."""

from __future__ import annotations

import io
import json
from contextlib import redirect_stdout

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from orchestrator_cli.main import run
from shared.testing.servers import free_port

WORDS = [
    "project",
    "engineering",
    "deploy",
    "infra",
    "diagnose",
    "respond",
    "create",
    "list",
    "get",
    "tasks",
    "start",
    "status",
    "wait",
    "cancel",
    "servers",
    "incidents",
    "api",
    "redis",
    "projects",
    "--name",
    "--modules",
    "--description",
    "--project",
    "--spec",
    "--timeout",
    "--message",
    "--task-id",
    "--commit-sha",
    "--status",
    "--help",
    "-h",
    "--",
    "0" * 32,
    "-1",
    "1e999",
    "nan",
]
TOKENS = st.one_of(st.sampled_from(WORDS), st.text(max_size=20))


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """Everything allowed, nothing reachable: every path must still end in one JSON object."""
    monkeypatch.setenv("ALLOWED_COMMANDS", "*")
    closed = free_port()  # nothing listens there
    monkeypatch.setenv("API_URL", f"http://127.0.0.1:{closed}")
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{closed}/0")
    monkeypatch.setenv("USER_ID", "u")
    monkeypatch.setenv("WORKER_ID", "w")


@pytest.mark.usefixtures("offline")
@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(argv=st.lists(TOKENS, max_size=6))
def test_stdout_is_always_exactly_one_json_object(argv: list[str]) -> None:
    printed = io.StringIO()
    with redirect_stdout(printed):
        outcome = run(argv)
    assert printed.getvalue() == ""  # nothing leaks around the object
    body = json.loads(outcome.render())
    assert isinstance(body, dict)
    assert body["success"] is (outcome.exit_code == 0)
    assert ("error" in body) is not body["success"]
