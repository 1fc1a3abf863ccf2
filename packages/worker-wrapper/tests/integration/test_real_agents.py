"""The real Claude Code and Codex CLIs, driven by the real wrapper, against fake model APIs.

The fakes speak the real protocols on loopback (Anthropic Messages with SSE; OpenAI Responses
with SSE) and script the model's side: tool calls that write a file and commit it, then a final
answer with the verdict. Everything else is real: the wrapper process, the agent binary running
the tools, git, Redis.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis
from shared.contracts import DeveloperWorkerInput, DeveloperWorkerOutput, POWorkerInput
from shared.streams.wire import encode
from shared.testing import fake_anthropic, fake_openai
from shared.testing.fake_anthropic import FakeAnthropic, Text, ToolUse
from shared.testing.fake_openai import FakeOpenAI, Message, ShellCall
from shared.testing.git import bare_repo, branch_head
from wrapper_testing import CLAUDE_TEST_ENV, Wrapper, agent_binary, wait_for, wrapper_env

StartWrapper = Callable[[dict[str, str]], Wrapper]

VERDICT = '<result>{"status": "success", "summary": "added hello", "data": {}}</result>'


async def publish(redis: Redis, stream: str, message: DeveloperWorkerInput | POWorkerInput) -> None:
    await redis.xadd(stream, encode(message))  # type: ignore[arg-type]


def developer_task(repo: Path) -> DeveloperWorkerInput:
    return DeveloperWorkerInput(
        task_id="t-1",
        project_id="p-1",
        prompt="add hello.txt",
        repo_url=str(repo),
        branch="feature/hello",
        timeout=120,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return bare_repo(tmp_path)


async def test_claude_code_writes_and_commits_and_the_wrapper_reports_the_sha_from_git(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    workspace = tmp_path / "ws"
    turns: list[fake_anthropic.Turn] = [
        ToolUse(
            "Write", {"file_path": str(workspace / "repo" / "hello.txt"), "content": "hello\n"}
        ),
        ToolUse("Bash", {"command": "git add hello.txt && git commit -m 'add hello'"}),
        Text(f"Done.\n{VERDICT}"),
    ]
    with FakeAnthropic(turns) as fake:
        await publish(redis_client, "worker:developer:dev-1:input", developer_task(repo))
        wrapper = start_wrapper(
            wrapper_env(
                redis_url,
                workspace,
                CLAUDE_BIN=agent_binary("claude"),
                ANTHROPIC_BASE_URL=fake.base_url,
                **CLAUDE_TEST_ENV,
            )
        )
        [raw] = await wait_for(
            redis_client, "worker:developer:output", 1, within=120, wrapper=wrapper
        )
        code = await wrapper.exited()

    output = DeveloperWorkerOutput.model_validate(raw)
    assert (code, output.status, output.error) == (0, "success", None)
    assert output.commit_sha == branch_head(repo, "feature/hello")
    assert output.verdict is not None
    assert output.verdict.summary == "added hello"
    assert output.usage is not None
    assert (output.usage.input_tokens or 0) > 0
    assert (output.usage.output_tokens or 0) > 0
    assert (output.usage.cost_usd or 0) > 0  # claude prices the tokens itself
    assert len(fake.main_requests) == 3
    assert fake.remaining_turns == 0
    assert "tool_result" in fake.main_requests[1].text()
    assert "add hello" in fake.main_requests[2].text()  # git's output went back to the model
    # The instructions file stated the verdict protocol to the agent.
    assert "<result>" in fake.main_requests[0].text()


async def test_a_po_workers_second_message_continues_the_claude_session(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    turns: list[fake_anthropic.Turn] = [
        Text("What should the todo API store?"),
        Text("Tags, noted."),
    ]
    with FakeAnthropic(turns) as fake:
        wrapper = start_wrapper(
            wrapper_env(
                redis_url,
                tmp_path / "ws",
                WORKER_ID="po-1",
                WORKER_TYPE="po",
                CLAUDE_BIN=agent_binary("claude"),
                ANTHROPIC_BASE_URL=fake.base_url,
                **CLAUDE_TEST_ENV,
            )
        )
        opening = POWorkerInput(user_id="u-1", prompt="I want a todo API")
        await publish(redis_client, "worker:po:po-1:input", opening)
        await wait_for(redis_client, "worker:po:po-1:output", 1, within=120, wrapper=wrapper)
        follow_up = POWorkerInput(user_id="u-1", prompt="with tags please")
        await publish(redis_client, "worker:po:po-1:input", follow_up)
        answers = await wait_for(
            redis_client, "worker:po:po-1:output", 2, within=120, wrapper=wrapper
        )
        wrapper.stop()

    assert [a["text"] for a in answers] == ["What should the todo API store?", "Tags, noted."]
    second = fake.main_requests[1].text()
    assert "I want a todo API" in second  # the first turn is in the conversation it receives
    assert "What should the todo API store?" in second
    assert "with tags please" in second


async def test_a_new_po_worker_continues_the_claude_session_of_the_worker_it_replaces(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path
) -> None:
    # worker-manager gives a user's PO workers one workspace: claude's home and working directory.
    home = tmp_path / "user-home"
    turns: list[fake_anthropic.Turn] = [
        Text("What should the todo API store?"),
        Text("Tags, noted."),
    ]
    with FakeAnthropic(turns) as fake:
        claude = {
            "WORKER_TYPE": "po",
            "CLAUDE_BIN": agent_binary("claude"),
            "ANTHROPIC_BASE_URL": fake.base_url,
            **CLAUDE_TEST_ENV,
        }
        first = start_wrapper(wrapper_env(redis_url, home, WORKER_ID="po-1", **claude))
        opening = POWorkerInput(user_id="u-1", prompt="I want a todo API")
        await publish(redis_client, "worker:po:po-1:input", opening)
        [before] = await wait_for(
            redis_client, "worker:po:po-1:output", 1, within=120, wrapper=first
        )
        assert first.stop() == 143
        session = before["session_id"]
        assert session

        second = start_wrapper(
            wrapper_env(redis_url, home, WORKER_ID="po-2", SESSION_ID=session, **claude)
        )
        follow_up = POWorkerInput(user_id="u-1", prompt="with tags please")
        await publish(redis_client, "worker:po:po-2:input", follow_up)
        [after] = await wait_for(
            redis_client, "worker:po:po-2:output", 1, within=120, wrapper=second
        )

    assert (before["text"], after["text"]) == ("What should the todo API store?", "Tags, noted.")
    assert after["session_id"] == session
    resumed = fake.main_requests[1].text()
    assert "I want a todo API" in resumed  # the gone worker's turn is in the conversation
    assert "What should the todo API store?" in resumed
    assert "with tags please" in resumed


async def test_codex_runs_a_shell_tool_that_commits_and_the_wrapper_reports_it(
    start_wrapper: StartWrapper, redis_url: str, redis_client: Redis, tmp_path: Path, repo: Path
) -> None:
    turns: list[fake_openai.Turn] = [
        ShellCall("echo hello > hello.txt && git add hello.txt && git commit -m 'add hello'"),
        Message(f"Done.\n{VERDICT}"),
    ]
    with FakeOpenAI(turns) as fake:
        await publish(redis_client, "worker:developer:dev-1:input", developer_task(repo))
        wrapper = start_wrapper(
            wrapper_env(
                redis_url,
                tmp_path / "ws",
                AGENT_TYPE="codex",
                CODEX_BIN=agent_binary("codex"),
                CODEX_CONFIG=fake.codex_config_toml(),
                OPENAI_API_KEY="sk-openai-fake",
            )
        )
        [raw] = await wait_for(
            redis_client, "worker:developer:output", 1, within=120, wrapper=wrapper
        )
        code = await wrapper.exited()

    output = DeveloperWorkerOutput.model_validate(raw)
    assert (code, output.status, output.error) == (0, "success", None)
    assert output.commit_sha == branch_head(repo, "feature/hello")
    assert output.usage is not None
    assert output.usage.input_tokens == 200  # two model requests in the turn
    assert fake.remaining_turns == 0
    [tool_output] = fake.tool_outputs()
    assert "add hello" in json.dumps(tool_output)
