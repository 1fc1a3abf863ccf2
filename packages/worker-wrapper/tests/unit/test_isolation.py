"""What the isolation settings come to: a clear refusal, bubblewrap's exact command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from worker_wrapper.adapters.isolation import Isolation, IsolationError, agent_isolation


def test_an_agent_user_asked_of_a_wrapper_that_is_not_root_stops_it_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(IsolationError, match=r"AGENT_USER=agent needs the wrapper to run as root"):
        agent_isolation("agent", None, workspace=Path("/workspace"))


def test_an_agent_in_bubblewrap_has_its_own_pids_and_proc_and_writes_only_its_workspace() -> None:
    sandbox = Isolation(bwrap="/usr/bin/bwrap", workspace=Path("/w"))

    argv = sandbox.command(["agent", "-p", "hi"], {"TMPDIR": "/scratch"})

    assert argv == [
        "/usr/bin/bwrap",
        "--die-with-parent",
        "--unshare-pid",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--bind", "/w", "/w",
        "--bind", "/scratch", "/scratch",
        "--",
        "agent", "-p", "hi",
    ]  # fmt: skip
    assert sandbox.popen_args() == {}


def test_a_sandboxed_agent_without_tmpdir_gets_one_in_its_workspace(tmp_path: Path) -> None:
    sandbox = Isolation(bwrap="/usr/bin/bwrap", workspace=tmp_path)

    argv = sandbox.command(["agent"], {})

    assert argv[-5:] == ["--setenv", "TMPDIR", str(tmp_path / ".tmp"), "--", "agent"]
    assert (tmp_path / ".tmp").is_dir()
    assert "--tmpfs" not in argv


def test_a_sandbox_asked_for_where_bwrap_is_missing_leaves_the_agent_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("shutil.which", lambda name: None)

    unconfined = agent_isolation(None, "bwrap", workspace=Path("/w"))

    assert unconfined.command(["agent"], {}) == ["agent"]
    assert unconfined.describe() == "as the wrapper's user, unconfined"
