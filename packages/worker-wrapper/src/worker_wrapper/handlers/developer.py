"""A developer worker's one task, then the worker ends with the task's exit code. In `develop`
mode: clone, let the agent work, read the commit from git, push. In `test` mode: check a commit
out and run the tests its `.project.yml` declares; no agent. Either way one output is published."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from pathlib import Path

from shared.contracts import (
    AgentUsage,
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    OutcomeStatus,
    WorkerActivity,
    WorkMode,
)
from shared.contracts.project_file import PROJECT_FILE
from shared.streams.registry import DEVELOPER_OUTPUT

from worker_wrapper.domain import task as rules
from worker_wrapper.domain import tester
from worker_wrapper.domain.task import Outcome
from worker_wrapper.domain.tester import CommandRun, DeclaredTest
from worker_wrapper.domain.turns import Stopped
from worker_wrapper.domain.verdict import ASK_FOR_VERDICT
from worker_wrapper.ports import Agent, Git, GitError, Heartbeat, Lifecycle, Publisher, Shell


async def handle_task(
    task: DeveloperWorkerInput,
    *,
    worker_id: str,
    repo: Path,
    instructions: str,
    extra_env: Mapping[str, str],
    agent: Agent,
    git: Git,
    shell: Shell,
    heartbeat: Heartbeat,
    publisher: Publisher,
    lifecycle: Lifecycle,
    finish: Callable[[int], None],
) -> None:
    """One output per task, then `finish(exit_code)` (the worker takes no other task) and
    COMPLETED or FAILED. Stopped mid-task, the output says so and the STOPPED event is left to the
    worker's last words."""
    await heartbeat.show(WorkerActivity.BUSY, task_id=task.task_id, request_id=task.request_id)
    stopped = False
    try:
        if task.mode is WorkMode.TEST:
            output = await run_tests(task, worker_id=worker_id, repo=repo, git=git, shell=shell)
        else:
            output = await run_task(
                task,
                worker_id=worker_id,
                repo=repo,
                instructions=instructions,
                extra_env=extra_env,
                agent=agent,
                git=git,
            )
    except Stopped:
        output, stopped = rules.stopped_output(task, worker_id), True
    await publisher.publish(DEVELOPER_OUTPUT.pattern, output)
    await heartbeat.show(WorkerActivity.DONE, task_id=task.task_id, status=str(output.status))
    if stopped:
        return
    end = rules.task_end(output)
    finish(end.exit_code)  # first: the worker ends with its task's code even if the report fails
    await lifecycle.report(
        end.event,
        task_id=task.task_id,
        exit_code=end.exit_code,
        error=output.error,
        correlation_id=task.correlation_id,
        result=end.result,
    )


async def run_task(
    task: DeveloperWorkerInput,
    *,
    worker_id: str,
    repo: Path,
    instructions: str,
    extra_env: Mapping[str, str],
    agent: Agent,
    git: Git,
) -> DeveloperWorkerOutput:
    """Everything but publishing: the output to publish; raises Stopped."""
    started = time.monotonic()
    usage: AgentUsage | None = None

    def output(outcome: Outcome) -> DeveloperWorkerOutput:
        duration_ms = int((time.monotonic() - started) * 1000)
        return rules.task_output(
            task, outcome, worker_id=worker_id, duration_ms=duration_ms, usage=usage
        )

    try:
        base = await git.clone(task.repo_url, task.branch, repo)
        await write_instructions(repo, agent.instructions_file, instructions, git=git)
    except GitError as exc:
        return output(rules.git_failed(str(exc)))

    env = rules.turn_env(extra_env, task)
    first = await agent.turn(
        rules.build_prompt(task), cwd=repo, session_id=None, timeout_s=task.timeout, extra_env=env
    )
    usage = rules.add_usage(usage, first.turn.usage if first.turn else None)
    outcome = rules.judge(task, first)
    if outcome is None:  # no verdict: ask once more in the same session
        assert first.turn is not None
        second = await agent.turn(
            ASK_FOR_VERDICT,
            cwd=repo,
            session_id=first.turn.session_id,
            timeout_s=rules.follow_up_timeout_s(task),
            extra_env=env,
        )
        usage = rules.add_usage(usage, second.turn.usage if second.turn else None)
        outcome = rules.judge_follow_up(task, second)
    if outcome.status is OutcomeStatus.SUCCESS:
        outcome = await _deliver(task, outcome, repo=repo, base=base, git=git)
    return output(outcome)


async def run_tests(
    task: DeveloperWorkerInput,
    *,
    worker_id: str,
    repo: Path,
    git: Git,
    shell: Shell,
    clock: Callable[[], float] = time.monotonic,
) -> DeveloperWorkerOutput:
    """Test mode, everything but publishing: check the commit out, run each declared test in
    order until one does not pass, all within the task's time limit; raises Stopped."""
    started = clock()
    assert task.commit_sha is not None  # the contract refuses a test input without one
    commit = task.commit_sha

    def output(outcome: Outcome) -> DeveloperWorkerOutput:
        duration_ms = int((clock() - started) * 1000)
        return rules.task_output(
            task, outcome, worker_id=worker_id, duration_ms=duration_ms, usage=None
        )

    try:
        commit = await git.check_out(task.repo_url, commit, repo)
        tests = tester.declared_tests(await git.read_file(repo, PROJECT_FILE), commit=commit)
    except GitError as exc:
        return output(rules.git_failed(str(exc), commit_sha=commit))
    except tester.NotTestable as exc:
        return output(tester.not_tested(commit, str(exc)))

    deadline = clock() + task.timeout
    runs: list[tuple[DeclaredTest, CommandRun]] = []
    for test in tests:
        run = await _run_test(test, repo=repo, left_s=deadline - clock(), shell=shell)
        runs.append((test, run))
        if not run.passed:
            break
    return output(tester.tested(runs, commit=commit, timeout_s=task.timeout))


async def _run_test(test: DeclaredTest, *, repo: Path, left_s: float, shell: Shell) -> CommandRun:
    if left_s <= 0:
        return tester.out_of_time()
    cwd = repo / test.directory
    if not cwd.is_dir():
        return tester.not_started(f"no directory {test.directory!r} at this commit")
    return await shell.run(test.command, cwd=cwd, timeout_s=left_s)


async def write_instructions(repo: Path, name: str, role: str, *, git: Git) -> None:
    """The role's instructions and the verdict protocol, in the file the agent reads, kept out
    of the project's history (the project's own file, if tracked, keeps its text first)."""
    existing = (repo / name).read_text() if await git.is_tracked(repo, name) else None
    (repo / name).write_text(rules.instructions(role, existing))
    await git.ignore_locally(repo, name)


async def _deliver(
    task: DeveloperWorkerInput, claimed: Outcome, *, repo: Path, base: str, git: Git
) -> Outcome:
    head = await git.head(repo)
    push_error = None
    if head != base:
        try:
            await git.push(repo, task.branch)
        except GitError as exc:
            push_error = str(exc)
    return rules.delivered(claimed, base=base, head=head, push_error=push_error)
