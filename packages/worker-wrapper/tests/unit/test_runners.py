"""Each runner's exact command line and environment, pinned."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from worker_wrapper.adapters.runners.claude import ClaudeRunner
from worker_wrapper.adapters.runners.codex import CodexRunner
from worker_wrapper.adapters.runners.factory import FactoryRunner
from worker_wrapper.adapters.runners.scripted import ScriptedRunner
from worker_wrapper.bootstrap import make_runner
from worker_wrapper.config import WrapperSettings

HOME = Path("/ws/home")
ENV = {
    "PATH": "/usr/bin",
    "LANG": "C.UTF-8",
    "API_URL": "http://api",
    "API_KEY": "cgo_k",
    "REDIS_URL": "redis://r",
    "USER_ID": "u",
    "WORKER_ID": "w",
    "ALLOWED_COMMANDS": "DEVELOPER",
    "ANTHROPIC_API_KEY": "sk-ant",
    "OPENAI_API_KEY": "sk-oai",
    "FACTORY_API_KEY": "fk",
    "GIT_TOKEN": "ghs_secret",
    "AWS_SECRET_ACCESS_KEY": "aws",
    "DATABASE_URL": "postgresql://x",
}
CLI = {
    k: ENV[k]
    for k in ("API_URL", "API_KEY", "REDIS_URL", "USER_ID", "WORKER_ID", "ALLOWED_COMMANDS")
}


def test_claude_runs_print_mode_with_json_output_and_explicit_tools() -> None:
    runner = ClaudeRunner("claude", allowed_tools="Bash,Read,Write", model="opus")
    call = runner.invocation("do it", session_id=None, home=HOME, env=ENV)
    assert call.argv == [
        "claude",
        "-p",
        "do it",
        "--output-format",
        "json",
        "--allowedTools",
        "Bash,Read,Write",
        "--permission-mode",
        "bypassPermissions",
        "--model",
        "opus",
    ]
    assert call.env == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        **CLI,
        "ANTHROPIC_API_KEY": "sk-ant",
        "HOME": "/ws/home",
        "CLAUDE_CONFIG_DIR": "/ws/home/.claude",
        "IS_SANDBOX": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }


def test_claude_resumes_a_session() -> None:
    call = ClaudeRunner("claude", allowed_tools="Bash").invocation(
        "again", session_id="s-1", home=HOME, env=ENV
    )
    assert call.argv[-2:] == ["--resume", "s-1"]


def test_codex_runs_exec_json_and_resumes_by_thread() -> None:
    runner = CodexRunner("codex")
    first = runner.invocation("do it", session_id=None, home=HOME, env=ENV)
    again = runner.invocation("more", session_id="th-1", home=HOME, env=ENV)
    assert first.argv == [
        "codex",
        "exec",
        "--json",
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",
        "do it",
    ]
    assert again.argv[-3:] == ["resume", "th-1", "more"]
    assert first.env == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        **CLI,
        "OPENAI_API_KEY": "sk-oai",
        "HOME": "/ws/home",
        "CODEX_HOME": "/ws/home/.codex",
    }


def test_droid_runs_exec_with_json_output_and_high_autonomy() -> None:
    call = FactoryRunner("droid").invocation("do it", session_id="s", home=HOME, env=ENV)
    assert call.argv == [
        "droid",
        "exec",
        "-o",
        "json",
        "--auto",
        "high",
        "--session-id",
        "s",
        "do it",
    ]
    assert call.env == {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        **CLI,
        "FACTORY_API_KEY": "fk",
        "HOME": "/ws/home",
    }


def test_the_scripted_agent_runs_in_this_python_with_its_script_and_role() -> None:
    runner = ScriptedRunner(Path("/s.json"), role="po")
    call = runner.invocation("x", session_id=None, home=HOME, env=ENV)
    assert call.argv == [
        sys.executable,
        "-m",
        "worker_wrapper.scripted_agent",
        "--state-dir",
        "/ws/home",
        "--role",
        "po",
        "--script",
        "/s.json",
        "x",
    ]
    assert call.env == {"PATH": "/usr/bin", "LANG": "C.UTF-8", **CLI, "HOME": "/ws/home"}


def test_the_scripted_agent_resumes_its_session() -> None:
    runner = ScriptedRunner(None, role="developer")
    call = runner.invocation("x", session_id="s-1", home=HOME, env=ENV)
    assert call.argv[3:] == [
        "--state-dir",
        "/ws/home",
        "--role",
        "developer",
        "--resume",
        "s-1",
        "x",
    ]


@pytest.mark.parametrize("worker_type", ["po", "developer"])
def test_a_scripted_worker_plays_the_role_of_its_type(
    monkeypatch: pytest.MonkeyPatch, worker_type: str
) -> None:
    monkeypatch.setenv("WORKER_ID", "w-1")
    monkeypatch.setenv("WORKER_TYPE", worker_type)
    monkeypatch.setenv("AGENT_TYPE", "scripted")
    monkeypatch.setenv("SCRIPTED_AGENT_SCRIPT", "/demo/script.json")
    runner = make_runner(WrapperSettings())
    call = runner.invocation("x", session_id=None, home=HOME, env=ENV)
    assert call.argv[5:9] == ["--role", worker_type, "--script", "/demo/script.json"]


@pytest.mark.parametrize(
    "runner",
    [
        ClaudeRunner("c", allowed_tools="Bash"),
        CodexRunner("x"),
        FactoryRunner("d"),
        ScriptedRunner(None, role="po"),
    ],
    ids=["claude", "codex", "factory", "scripted"],
)
def test_no_secret_outside_the_allowlist_reaches_the_agent_nor_any_key_its_argv(
    runner: ClaudeRunner,
) -> None:
    call = runner.invocation("prompt", session_id=None, home=HOME, env=ENV)
    assert not {"GIT_TOKEN", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL"} & set(call.env)
    assert not any(secret in " ".join(call.argv) for secret in ("sk-", "cgo_", "ghs_", "fk"))


def test_claude_output_gives_text_session_usage_and_cost() -> None:
    stdout = (
        '{"type":"result","is_error":false,"result":"ok <result>{}</result>",'
        '"session_id":"s-9","total_cost_usd":0.25,'
        '"usage":{"input_tokens":100,"output_tokens":20,"cache_read_input_tokens":7}}'
    )
    turn = ClaudeRunner("c", allowed_tools="").parse(stdout)
    assert (turn.text, turn.session_id) == ("ok <result>{}</result>", "s-9")
    assert turn.usage is not None
    assert (
        turn.usage.input_tokens,
        turn.usage.output_tokens,
        turn.usage.cache_read_tokens,
        turn.usage.cost_usd,
    ) == (100, 20, 7, 0.25)


def test_codex_events_give_the_last_message_thread_and_usage() -> None:
    stdout = "\n".join(
        [
            '{"type":"thread.started","thread_id":"th-1"}',
            '{"type":"item.completed","item":{"type":"agent_message","text":"working"}}',
            '{"type":"item.completed","item":{"type":"command_execution","command":"ls"}}',
            '{"type":"item.completed","item":{"type":"agent_message","text":"done"}}',
            '{"type":"turn.completed","usage":{"input_tokens":50,"cached_input_tokens":5,'
            '"output_tokens":9}}',
        ]
    )
    turn = CodexRunner("codex").parse(stdout)
    assert (turn.text, turn.session_id) == ("done", "th-1")
    assert turn.usage is not None
    assert (turn.usage.input_tokens, turn.usage.cache_read_tokens) == (50, 5)


@pytest.mark.parametrize("garbage", ["", "not json", "[1, 2]"])
def test_output_that_is_not_the_agents_format_is_refused(garbage: str) -> None:
    with pytest.raises(ValueError):
        ClaudeRunner("c", allowed_tools="").parse(garbage)
    with pytest.raises(ValueError):
        CodexRunner("x").parse(garbage)


class TestWhetherAHomeHoldsASession:
    def test_claude_keeps_a_session_per_working_directory_in_its_config_dir(
        self, tmp_path: Path
    ) -> None:
        runner = ClaudeRunner("claude", allowed_tools="Bash")
        kept = tmp_path / ".claude" / "projects" / "-data-po-u-1-po" / "s-1.jsonl"
        kept.parent.mkdir(parents=True)
        kept.write_text("{}\n")
        assert runner.has_session("s-1", home=tmp_path)
        assert not runner.has_session("s-2", home=tmp_path)
        assert not runner.has_session("s-1", home=tmp_path / "elsewhere")

    def test_codex_keeps_a_thread_as_a_dated_rollout_file(self, tmp_path: Path) -> None:
        runner = CodexRunner("codex")
        thread = "0199a213-81c0-7800-8aa1-bbab2a035a53"
        kept = (
            tmp_path / ".codex/sessions/2025/10/01" / f"rollout-2025-10-01T10-00-00-{thread}.jsonl"
        )
        kept.parent.mkdir(parents=True)
        kept.write_text("{}\n")
        assert runner.has_session(thread, home=tmp_path)
        assert not runner.has_session("0199a213", home=tmp_path)

    def test_the_scripted_agent_keeps_a_session_in_its_state_dir(self, tmp_path: Path) -> None:
        runner = ScriptedRunner(None, role="po")
        (tmp_path / ".scripted-agent").mkdir()
        (tmp_path / ".scripted-agent" / "abc.json").write_text('{"played": 1}')
        assert runner.has_session("abc", home=tmp_path)
        assert not runner.has_session("abd", home=tmp_path)

    def test_droid_is_let_try_since_its_sessions_are_not_known_here(self, tmp_path: Path) -> None:
        assert FactoryRunner("droid").has_session("s-1", home=tmp_path)
