"""The handlers with small fakes of their ports: what they publish, report, show and end with."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from shared.contracts import (
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    LifecycleEventKind,
    POWorkerInput,
    POWorkerOutput,
    WorkerActivity,
    WorkMode,
)
from shared.testing.fakes import FakePublisher
from worker_wrapper.adapters.git_cli import GitCli
from worker_wrapper.domain.ending import WhyStopped
from worker_wrapper.domain.task import NO_REPOSITORY
from worker_wrapper.domain.tester import CommandRun, RunEnd
from worker_wrapper.domain.turns import AgentTurn, Stopped, TurnResult, TurnStatus
from worker_wrapper.handlers import developer, po
from worker_wrapper.handlers.lifecycle import keep_alive, say_last_words
from worker_wrapper.ports import Git, GitError

VERDICT = '<result>{"status": "success", "summary": "did it", "data": {}}</result>'


class FakeAgent:
    instructions_file = "CLAUDE.md"

    def __init__(self, *results: TurnResult, sessions: tuple[str, ...] = ()) -> None:
        self.results = list(results)
        self.turns: list[dict[str, Any]] = []
        self.sessions = set(sessions)
        """The sessions whose files its home holds."""

    async def has_session(self, session_id: str) -> bool:
        return session_id in self.sessions

    async def turn(
        self,
        prompt: str,
        *,
        cwd: Path,
        session_id: str | None,
        timeout_s: float,
        extra_env: Mapping[str, str] | None = None,
    ) -> TurnResult:
        self.turns.append({"prompt": prompt, "session_id": session_id, "env": extra_env})
        return self.results.pop(0)


class FakeGit:
    def __init__(
        self,
        *,
        commits: bool = True,
        push_fails: bool = False,
        files: dict[str, str] | None = None,
        missing_commit: bool = False,
    ) -> None:
        self.commits, self.push_fails = commits, push_fails
        self.files, self.missing_commit = files or {}, missing_commit
        self.pushed: list[str] = []
        self.checked_out: list[str] = []

    async def clone(self, url: str, branch: str, dest: Path) -> str:
        await asyncio.to_thread(dest.mkdir, parents=True)
        return "base"

    async def check_out(self, url: str, commit: str, dest: Path) -> str:
        if self.missing_commit:
            raise GitError(f"commit {commit} is not in the repository")
        for name in self.files:
            await asyncio.to_thread((dest / name).parent.mkdir, parents=True, exist_ok=True)
        self.checked_out.append(commit)
        return commit.ljust(40, "0")

    async def read_file(self, repo: Path, path: str) -> str | None:
        return self.files.get(path)

    async def head(self, repo: Path) -> str:
        return "new" if self.commits else "base"

    async def push(self, repo: Path, branch: str) -> None:
        if self.push_fails:
            raise GitError("git push failed: rejected")
        self.pushed.append(branch)

    async def is_tracked(self, repo: Path, path: str) -> bool:
        return False

    async def ignore_locally(self, repo: Path, path: str) -> None:
        pass


class FakeShell:
    """Runs nothing: each command gets the next of `runs`."""

    def __init__(self, *runs: CommandRun, clock: list[float] | None = None) -> None:
        self.runs = list(runs)
        self.commands: list[dict[str, Any]] = []
        self.clock = clock

    async def run(self, command: str, *, cwd: Path, timeout_s: float) -> CommandRun:
        self.commands.append({"command": command, "cwd": cwd, "timeout_s": timeout_s})
        if self.clock is not None:
            self.clock[0] += 50  # each command takes 50 s of the run's time
        return self.runs.pop(0)


class FakeLifecycle:
    def __init__(self, *, fails: bool = False) -> None:
        self.events: list[tuple[LifecycleEventKind, dict[str, Any]]] = []
        self.fails = fails

    async def report(self, event: LifecycleEventKind, **fields: Any) -> None:
        if self.fails:
            raise ConnectionError("redis is away")
        self.events.append((event, fields))


class FakeHeartbeat:
    def __init__(self) -> None:
        self.shown: list[tuple[WorkerActivity, dict[str, Any]]] = []
        self.beats = 0
        self.cleared = False

    async def show(self, state: WorkerActivity, **fields: Any) -> None:
        self.shown.append((state, fields))

    async def beat(self) -> None:
        self.beats += 1

    async def clear(self) -> None:
        self.cleared = True


class FakeSessions:
    def __init__(self, session_id: str | None = None) -> None:
        self.session_id = session_id

    async def get(self) -> str | None:
        return self.session_id

    async def set(self, session_id: str) -> None:
        self.session_id = session_id


class FakeInterim:
    """The output stream's interim replies: `during_turn` are sent while the agent's turn runs."""

    def __init__(self, *during_turn: str) -> None:
        self.sent: list[str] = ["from an earlier turn"]
        self.during_turn = list(during_turn)

    async def mark(self) -> str:
        mark = str(len(self.sent))
        self.sent += self.during_turn
        return mark

    async def since(self, mark: str) -> list[str]:
        return self.sent[int(mark) :]


def answered(text: str, session_id: str = "s-1") -> TurnResult:
    return TurnResult(TurnStatus.OK, AgentTurn(text, session_id), 0)


TASK = DeveloperWorkerInput(
    task_id="t-1", project_id="p-1", prompt="add a file", repo_url="/srv/repo.git", timeout=60
)


async def run_task(
    tmp_path: Path,
    agent: FakeAgent,
    git: Git | None = None,
    *,
    task: DeveloperWorkerInput = TASK,
    shell: FakeShell | None = None,
) -> tuple[DeveloperWorkerOutput, FakeLifecycle, FakeHeartbeat, list[int]]:
    publisher, lifecycle, heartbeat = FakePublisher(), FakeLifecycle(), FakeHeartbeat()
    finished: list[int] = []
    await developer.handle_task(
        task,
        worker_id="dev-1",
        repo=tmp_path / "repo",
        instructions="Be careful.",
        extra_env={"EXTRA": "1"},
        agent=agent,
        git=git or FakeGit(),
        shell=shell or FakeShell(),
        heartbeat=heartbeat,
        publisher=publisher,
        lifecycle=lifecycle,
        finish=finished.append,
    )
    [(stream, output)] = publisher.published
    assert stream == "worker:developer:output"
    assert isinstance(output, DeveloperWorkerOutput)
    return output, lifecycle, heartbeat, finished


async def test_a_task_done_is_published_reported_completed_and_ends_the_worker_with_0(
    tmp_path: Path,
) -> None:
    agent = FakeAgent(answered(f"done\n{VERDICT}"))
    output, lifecycle, heartbeat, finished = await run_task(tmp_path, agent)

    assert (output.status, output.commit_sha, output.worker_id) == ("success", "new", "dev-1")
    assert lifecycle.events == [
        (
            LifecycleEventKind.COMPLETED,
            {
                "task_id": "t-1",
                "exit_code": 0,
                "error": None,
                "correlation_id": TASK.correlation_id,
                "result": {"status": "success", "commit_sha": "new"},
            },
        )
    ]
    assert finished == [0]
    assert [state for state, _ in heartbeat.shown] == [WorkerActivity.BUSY, WorkerActivity.DONE]
    assert agent.turns[0]["env"] == {
        "EXTRA": "1",
        "REQUEST_ID": TASK.request_id,
        "CORRELATION_ID": TASK.correlation_id,
    }
    assert "Be careful." in (tmp_path / "repo" / "CLAUDE.md").read_text()


async def test_no_verdict_gets_one_more_turn_in_the_same_session(tmp_path: Path) -> None:
    agent = FakeAgent(answered("done", "s-7"), answered(VERDICT, "s-7"))
    output, _, _, finished = await run_task(tmp_path, agent)
    assert output.status == "success"
    assert [turn["session_id"] for turn in agent.turns] == [None, "s-7"]
    assert finished == [0]


async def test_a_success_without_a_commit_fails_and_ends_the_worker_with_1(
    tmp_path: Path,
) -> None:
    output, lifecycle, _, finished = await run_task(
        tmp_path, FakeAgent(answered(VERDICT)), FakeGit(commits=False)
    )
    assert output.status == "failed"
    assert output.error == "the agent reported success but made no commit"
    assert [event for event, _ in lifecycle.events] == [LifecycleEventKind.FAILED]
    assert finished == [1]


async def test_a_push_that_fails_is_an_error_naming_the_commit(tmp_path: Path) -> None:
    output, _, _, finished = await run_task(
        tmp_path, FakeAgent(answered(VERDICT)), FakeGit(push_fails=True)
    )
    assert output.status == "error"
    assert output.error == "could not push new: git push failed: rejected"
    assert output.retryable
    assert finished == [1]


async def test_a_repository_that_does_not_exist_fails_the_task_for_good_before_the_agent(
    tmp_path: Path,
) -> None:
    agent = FakeAgent()  # any turn would fail: it has no result to give
    missing = TASK.model_copy(update={"repo_url": str(tmp_path / "missing")})
    git = GitCli(author_name="test", author_email="test@example.com")
    output, lifecycle, _, finished = await run_task(tmp_path, agent, git, task=missing)

    assert (output.status, output.retryable) == ("error", False)
    assert str(output.error).startswith(f"{NO_REPOSITORY}: git clone failed: fatal: repository")
    assert f"'{tmp_path / 'missing'}' does not exist" in str(output.error)
    assert agent.turns == []
    assert [event for event, _ in lifecycle.events] == [LifecycleEventKind.FAILED]
    assert finished == [1]


async def test_a_stopped_task_publishes_its_output_and_leaves_the_ending_to_the_runtime(
    tmp_path: Path,
) -> None:
    agent = FakeAgent(TurnResult(TurnStatus.STOPPED, None, -15))
    output, lifecycle, heartbeat, finished = await run_task(tmp_path, agent)
    assert output.status == "failed"
    assert str(output.error).startswith("stopped")
    assert lifecycle.events == []
    assert finished == []
    assert heartbeat.shown[-1] == (WorkerActivity.DONE, {"task_id": "t-1", "status": "failed"})


COMMIT = "c0ffee"
TEST_TASK = TASK.model_copy(update={"mode": WorkMode.TEST, "commit_sha": COMMIT})
TWO_TESTED = """
services:
  api:
    run: python -m api
    health: /
    test: pytest -q
    directory: api
  web:
    run: npm start
    health: /
  worker:
    run: python -m worker
    health: /
    test: make check
"""


async def test_a_test_run_runs_each_declared_test_in_its_directory_and_never_the_agent(
    tmp_path: Path,
) -> None:
    agent = FakeAgent()  # any turn would fail: it has no result to give
    git = FakeGit(files={".project.yml": TWO_TESTED, "api/x": ""})
    shell = FakeShell(CommandRun(RunEnd.EXITED, 0, "3 passed\n"), CommandRun(RunEnd.EXITED, 0))
    output, lifecycle, heartbeat, finished = await run_task(
        tmp_path, agent, git, task=TEST_TASK, shell=shell
    )

    assert agent.turns == []
    assert not (tmp_path / "repo" / "CLAUDE.md").exists()
    assert git.checked_out == [COMMIT]
    assert [(c["command"], c["cwd"]) for c in shell.commands] == [
        ("pytest -q", tmp_path / "repo" / "api"),
        ("make check", tmp_path / "repo" / "."),
    ]
    assert all(0 < c["timeout_s"] <= 60 for c in shell.commands)
    full = COMMIT.ljust(40, "0")
    assert (output.status, output.commit_sha, output.exit_code) == ("success", full, 0)
    assert output.output_tail == "[api] $ pytest -q\n3 passed\n[worker] $ make check\n"
    assert output.request_id == TEST_TASK.request_id
    assert lifecycle.events == [
        (
            LifecycleEventKind.COMPLETED,
            {
                "task_id": "t-1",
                "exit_code": 0,
                "error": None,
                "correlation_id": TEST_TASK.correlation_id,
                "result": {"status": "success", "commit_sha": full},
            },
        )
    ]
    assert finished == [0]
    assert [state for state, _ in heartbeat.shown] == [WorkerActivity.BUSY, WorkerActivity.DONE]


async def test_a_failing_test_ends_the_run_there_and_fails_the_worker(tmp_path: Path) -> None:
    git = FakeGit(files={".project.yml": TWO_TESTED, "api/x": ""})
    shell = FakeShell(CommandRun(RunEnd.EXITED, 1, "E  boom\n"))
    output, lifecycle, _, finished = await run_task(
        tmp_path, FakeAgent(), git, task=TEST_TASK, shell=shell
    )
    assert len(shell.commands) == 1
    assert output.status == "failed"
    assert str(output.error).startswith("tests failed: api: `pytest -q` exited 1\n")
    assert [event for event, _ in lifecycle.events] == [LifecycleEventKind.FAILED]
    assert finished == [1]


async def test_a_declared_directory_missing_at_the_commit_fails_without_running(
    tmp_path: Path,
) -> None:
    git = FakeGit(files={".project.yml": TWO_TESTED})  # no api/
    shell = FakeShell()
    output, _, _, finished = await run_task(tmp_path, FakeAgent(), git, task=TEST_TASK, shell=shell)
    assert shell.commands == []
    assert output.status == "failed"
    assert output.error == (
        "tests failed: api: `pytest -q` could not start: no directory 'api' at this commit"
    )
    assert finished == [1]


async def test_a_commit_that_cannot_be_checked_out_is_an_error_and_runs_nothing(
    tmp_path: Path,
) -> None:
    shell = FakeShell()
    output, _, _, finished = await run_task(
        tmp_path, FakeAgent(), FakeGit(missing_commit=True), task=TEST_TASK, shell=shell
    )
    assert (output.status, output.error, output.commit_sha) == (
        "error",
        f"commit {COMMIT} is not in the repository",
        COMMIT,
    )
    assert output.retryable  # the next attempt's developer makes a new commit
    assert shell.commands == []
    assert finished == [1]


async def test_a_project_file_missing_at_the_commit_is_an_error_the_next_attempt_may_fix(
    tmp_path: Path,
) -> None:
    shell = FakeShell()
    output, _, _, finished = await run_task(
        tmp_path, FakeAgent(), FakeGit(), task=TEST_TASK, shell=shell
    )
    assert (output.status, output.retryable) == ("error", True)
    assert str(output.error).startswith("no .project.yml at commit ")
    assert shell.commands == []
    assert finished == [1]


async def test_a_test_run_of_a_repository_that_does_not_exist_fails_for_good(
    tmp_path: Path,
) -> None:
    shell = FakeShell()
    missing = TEST_TASK.model_copy(update={"repo_url": f"file://{tmp_path}/missing"})
    git = GitCli(author_name="test", author_email="test@example.com")
    output, lifecycle, _, finished = await run_task(
        tmp_path, FakeAgent(), git, task=missing, shell=shell
    )

    assert (output.status, output.retryable, output.commit_sha) == ("error", False, COMMIT)
    assert str(output.error).startswith(f"{NO_REPOSITORY}: git clone failed: fatal: '")
    assert "does not appear to be a git repository" in str(output.error)
    assert shell.commands == []
    assert [event for event, _ in lifecycle.events] == [LifecycleEventKind.FAILED]
    assert finished == [1]


async def test_a_test_run_stopped_midway_says_so_and_leaves_the_ending_to_the_runtime(
    tmp_path: Path,
) -> None:
    git = FakeGit(files={".project.yml": TWO_TESTED, "api/x": ""})
    shell = FakeShell(CommandRun(RunEnd.STOPPED, -15))
    output, lifecycle, _, finished = await run_task(
        tmp_path, FakeAgent(), git, task=TEST_TASK, shell=shell
    )
    assert (output.status, output.commit_sha) == ("failed", COMMIT)
    assert str(output.error).startswith("stopped")
    assert lifecycle.events == []
    assert finished == []


async def test_the_time_limit_is_for_the_whole_run_not_each_command(tmp_path: Path) -> None:
    clock = [1000.0]
    git = FakeGit(files={".project.yml": TWO_TESTED, "api/x": ""})
    shell = FakeShell(CommandRun(RunEnd.EXITED, 0), clock=clock)
    long_task = TEST_TASK.model_copy(update={"timeout": 40})

    output = await developer.run_tests(
        long_task,
        worker_id="dev-1",
        repo=tmp_path / "repo",
        git=git,
        shell=shell,
        clock=lambda: clock[0],
    )

    assert [c["timeout_s"] for c in shell.commands] == [40]  # none left for the second
    assert output.status == "timeout"
    assert str(output.error).startswith("tests timed out after 40s: worker: `make check`")


async def talk(
    tmp_path: Path,
    agent: FakeAgent,
    *,
    sessions: FakeSessions | None = None,
    inherited_session: str | None = None,
    interim: FakeInterim | None = None,
    heartbeat: FakeHeartbeat | None = None,
    publisher: FakePublisher | None = None,
) -> tuple[POWorkerInput, list[POWorkerOutput]]:
    """One PO message through the handler; the message and what it published."""
    publisher = publisher or FakePublisher()
    message = POWorkerInput(user_id="u-1", prompt="hi")
    await po.handle_message(
        message,
        worker_id="po-1",
        cwd=tmp_path,
        timeout_s=30,
        extra_env={},
        inherited_session=inherited_session,
        agent=agent,
        sessions=sessions or FakeSessions(),
        interim=interim or FakeInterim(),
        heartbeat=heartbeat or FakeHeartbeat(),
        publisher=publisher,
    )
    assert {stream for stream, _ in publisher.published} <= {"worker:po:po-1:output"}
    outputs = [o for _, o in publisher.published if isinstance(o, POWorkerOutput)]
    assert len(outputs) == len(publisher.published)
    return message, outputs


class TestAPoMessage:
    async def test_gets_one_final_answer_and_the_session_goes_on(self, tmp_path: Path) -> None:
        agent = FakeAgent(answered(f"Hello!\n{VERDICT}", "s-2"))
        sessions, heartbeat = FakeSessions("s-1"), FakeHeartbeat()

        message, [answer] = await talk(tmp_path, agent, sessions=sessions, heartbeat=heartbeat)

        assert (answer.text, answer.request_id, answer.is_final) == (
            "Hello!",
            message.request_id,
            True,
        )
        assert agent.turns[0]["session_id"] == "s-1"
        assert sessions.session_id == "s-2"
        assert answer.session_id == "s-2"  # the bot keeps it for the user's next worker
        assert [state for state, _ in heartbeat.shown] == [
            WorkerActivity.BUSY,
            WorkerActivity.IDLE,
        ]

    async def test_on_a_new_worker_continues_the_session_it_was_created_with(
        self, tmp_path: Path
    ) -> None:
        agent = FakeAgent(answered("Welcome back.", "s-old"), sessions=("s-old",))
        sessions = FakeSessions()

        _, [answer] = await talk(tmp_path, agent, sessions=sessions, inherited_session="s-old")

        assert agent.turns[0]["session_id"] == "s-old"
        assert (sessions.session_id, answer.session_id) == ("s-old", "s-old")

    async def test_continues_its_own_session_rather_than_the_one_it_was_created_with(
        self, tmp_path: Path
    ) -> None:
        agent = FakeAgent(answered("Hi", "s-mine"), sessions=("s-old", "s-mine"))

        await talk(tmp_path, agent, sessions=FakeSessions("s-mine"), inherited_session="s-old")

        assert agent.turns[0]["session_id"] == "s-mine"

    async def test_starts_a_new_session_when_the_agents_home_lacks_the_one_to_continue(
        self, tmp_path: Path
    ) -> None:
        agent = FakeAgent(answered("Hello, who are you?", "s-new"))
        sessions = FakeSessions()

        _, [answer] = await talk(tmp_path, agent, sessions=sessions, inherited_session="s-gone")

        assert agent.turns[0]["session_id"] is None
        assert (sessions.session_id, answer.session_id) == ("s-new", "s-new")

    async def test_that_failed_still_names_the_session_it_continued(self, tmp_path: Path) -> None:
        agent = FakeAgent(TurnResult(TurnStatus.CRASHED, None, 3))

        _, [answer] = await talk(tmp_path, agent, sessions=FakeSessions("s-1"))

        assert (answer.text, answer.session_id, answer.is_final) == (
            "Sorry, something went wrong on my side. Please try again.",
            "s-1",
            True,
        )

    async def test_does_not_repeat_what_the_agent_sent_with_respond(self, tmp_path: Path) -> None:
        agent = FakeAgent(answered("Your project  is being built.\n"))
        interim = FakeInterim("Your project is being built.")

        message, [answer] = await talk(tmp_path, agent, interim=interim)

        assert (answer.text, answer.is_final, answer.request_id) == ("", True, message.request_id)

    async def test_after_a_respond_the_agents_new_words_are_the_final_answer(
        self, tmp_path: Path
    ) -> None:
        agent = FakeAgent(answered("Done: https://todo.example is live."))

        _, [answer] = await talk(tmp_path, agent, interim=FakeInterim("Deploying now."))

        assert answer.text == "Done: https://todo.example is live."

    async def test_stopped_mid_turn_answers_nothing_and_stays_pending(self, tmp_path: Path) -> None:
        publisher = FakePublisher()
        with pytest.raises(Stopped):
            await talk(
                tmp_path,
                FakeAgent(TurnResult(TurnStatus.STOPPED, None, -15)),
                publisher=publisher,
            )
        assert publisher.published == []


def test_a_po_workspace_gets_the_roles_instructions(tmp_path: Path) -> None:
    po.prepare_workspace(cwd=tmp_path / "po", instructions_file="AGENTS.md", instructions="Be PO.")
    assert (tmp_path / "po" / "AGENTS.md").read_text() == "Be PO."
    po.prepare_workspace(cwd=tmp_path / "bare", instructions_file="AGENTS.md", instructions="")
    assert list((tmp_path / "bare").iterdir()) == []


class FakeLifetime:
    def __init__(self, beats_before_stop: int) -> None:
        self.left = beats_before_stop

    async def sleep(self, seconds: float) -> bool:
        self.left -= 1
        return self.left < 0


async def test_the_worker_prepares_beats_says_started_and_beats_until_it_stops() -> None:
    lifecycle, heartbeat, prepared = FakeLifecycle(), FakeHeartbeat(), []

    await keep_alive(
        FakeLifetime(beats_before_stop=2),
        prepare=lambda: prepared.append(heartbeat.beats),
        lifecycle=lifecycle,
        heartbeat=heartbeat,
        interval_s=1,
    )

    assert prepared == [0]  # before anything else
    assert [event for event, _ in lifecycle.events] == [LifecycleEventKind.STARTED]
    assert heartbeat.beats == 3  # the first, then one per interval until stopping


async def test_last_words_are_said_and_the_heartbeat_cleared_even_when_they_fail() -> None:
    lifecycle, heartbeat = FakeLifecycle(), FakeHeartbeat()
    await say_last_words(
        WhyStopped.ASKED, exit_code=143, failures={}, lifecycle=lifecycle, heartbeat=heartbeat
    )
    assert lifecycle.events == [(LifecycleEventKind.STOPPED, {"exit_code": 143, "error": None})]
    assert heartbeat.cleared

    failing, heartbeat = FakeLifecycle(fails=True), FakeHeartbeat()
    with pytest.raises(ConnectionError):
        await say_last_words(
            WhyStopped.BROKE,
            exit_code=1,
            failures={"x": "y"},
            lifecycle=failing,
            heartbeat=heartbeat,
        )
    assert heartbeat.cleared
