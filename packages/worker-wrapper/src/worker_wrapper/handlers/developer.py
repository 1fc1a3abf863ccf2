"""A developer worker's one task: clone, let the agent work, read the commit from git, push."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import structlog
from shared.contracts import (
    AgentUsage,
    AgentVerdict,
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    OutcomeStatus,
    VerdictStatus,
)

from worker_wrapper.adapters.agent import Agent, TurnResult, TurnStatus
from worker_wrapper.adapters.git import Git, GitError
from worker_wrapper.domain.verdict import ASK_FOR_VERDICT, PROTOCOL, VerdictError, parse_verdict

log = structlog.get_logger("worker_wrapper")


class Stopped(Exception):
    """The worker was asked to stop while the agent was working."""


@dataclass(frozen=True)
class Outcome:
    status: OutcomeStatus
    error: str | None = None
    commit_sha: str | None = None
    verdict: AgentVerdict | None = None
    exit_code: int | None = None


def build_prompt(task: DeveloperWorkerInput) -> str:
    parts = [task.prompt]
    if task.attempt > 1:
        parts.append(f"\nThis is attempt {task.attempt}.")
    if task.previous_failure:
        parts.append(f"The previous attempt failed:\n{task.previous_failure}\nFix that.")
    parts.append("\nEnd with the <result> block described in your instructions.")
    return "\n".join(parts)


async def write_instructions(repo: Path, agent: Agent, git: Git, role: str) -> None:
    """The role's instructions and the verdict protocol, in the file the agent reads, kept out
    of the project's history."""
    name = agent.instructions_file
    content = f"{role.strip()}\n\n{PROTOCOL}" if role.strip() else PROTOCOL
    if await git.is_tracked(repo, name):
        # The project has its own file: add ours after it, never commit the addition.
        existing = (repo / name).read_text()
        (repo / name).write_text(f"{existing}\n\n{content}")
        await git.ignore_locally(repo, name)
        return
    (repo / name).write_text(content)
    await git.ignore_locally(repo, name)


def _add_usage(total: AgentUsage | None, more: AgentUsage | None) -> AgentUsage | None:
    """Usage over every turn of the task (the verdict follow-up costs tokens too)."""
    if total is None or more is None:
        return more or total
    summed = {
        name: None if a is None and b is None else (a or 0) + (b or 0)
        for name in AgentUsage.model_fields
        for a, b in [(getattr(total, name), getattr(more, name))]
    }
    return AgentUsage.model_validate(summed)


async def run_task(
    task: DeveloperWorkerInput,
    *,
    worker_id: str,
    agent: Agent,
    git: Git,
    workspace: Path,
    instructions: str,
    extra_env: dict[str, str],
) -> DeveloperWorkerOutput:
    """Everything but publishing: returns the output to publish; raises Stopped."""
    started = time.monotonic()
    usage: AgentUsage | None = None
    repo = workspace / "repo"
    try:
        base = await git.clone(task.repo_url, task.branch, repo)
        await write_instructions(repo, agent, git, instructions)
    except GitError as exc:
        return _output(task, worker_id, started, usage, Outcome(OutcomeStatus.ERROR, str(exc)))

    env = {**extra_env, "REQUEST_ID": task.request_id, "CORRELATION_ID": task.correlation_id}
    first = await agent.turn(
        build_prompt(task), cwd=repo, session_id=None, timeout_s=task.timeout, extra_env=env
    )
    usage = _add_usage(usage, first.turn.usage if first.turn else None)
    outcome = await _judge(task, first)
    if outcome is None:  # no verdict: ask once more in the same session
        assert first.turn is not None
        second = await agent.turn(
            ASK_FOR_VERDICT,
            cwd=repo,
            session_id=first.turn.session_id,
            timeout_s=min(task.timeout, 300),
            extra_env=env,
        )
        usage = _add_usage(usage, second.turn.usage if second.turn else None)
        outcome = await _judge(task, second) or Outcome(
            OutcomeStatus.FAILED, "the agent gave no <result> verdict", exit_code=second.exit_code
        )
    if outcome.status is OutcomeStatus.SUCCESS:
        outcome = await _deliver(task, git, repo, base, outcome)
    return _output(task, worker_id, started, usage, outcome)


async def _judge(task: DeveloperWorkerInput, result: TurnResult) -> Outcome | None:
    if result.status is TurnStatus.STOPPED:
        raise Stopped
    if result.status is TurnStatus.TIMEOUT:
        return Outcome(
            OutcomeStatus.TIMEOUT,
            f"the agent timed out after {task.timeout}s",
            exit_code=result.exit_code,
        )
    if result.status is TurnStatus.CRASHED or result.turn is None:
        return Outcome(OutcomeStatus.ERROR, result.error, exit_code=result.exit_code)
    try:
        parsed = parse_verdict(result.turn.text)
    except VerdictError as exc:
        return Outcome(OutcomeStatus.FAILED, str(exc), exit_code=result.exit_code)
    if parsed.verdict is None:
        if result.turn.is_error:
            return Outcome(
                OutcomeStatus.ERROR,
                f"the agent failed: {result.turn.text[-1000:]}",
                exit_code=result.exit_code,
            )
        return None
    verdict = parsed.verdict
    if verdict.status is not VerdictStatus.SUCCESS:
        return Outcome(
            OutcomeStatus.FAILED,
            f"the agent reports {verdict.status}: {verdict.summary}",
            verdict=verdict,
            exit_code=result.exit_code,
        )
    return Outcome(OutcomeStatus.SUCCESS, verdict=verdict, exit_code=result.exit_code)


async def _deliver(
    task: DeveloperWorkerInput, git: Git, repo: Path, base: str, outcome: Outcome
) -> Outcome:
    """The commit is read from git, not from the agent's claim, and pushed."""
    head = await git.head(repo)
    if head == base:
        return Outcome(
            OutcomeStatus.FAILED,
            "the agent reported success but made no commit",
            verdict=outcome.verdict,
            exit_code=outcome.exit_code,
        )
    try:
        await git.push(repo, task.branch)
    except GitError as exc:
        return Outcome(
            OutcomeStatus.ERROR,
            f"could not push {head}: {exc}",
            commit_sha=head,
            verdict=outcome.verdict,
            exit_code=outcome.exit_code,
        )
    return Outcome(
        OutcomeStatus.SUCCESS, commit_sha=head, verdict=outcome.verdict, exit_code=outcome.exit_code
    )


def _output(
    task: DeveloperWorkerInput,
    worker_id: str,
    started: float,
    usage: AgentUsage | None,
    outcome: Outcome,
) -> DeveloperWorkerOutput:
    return DeveloperWorkerOutput(
        request_id=task.request_id,
        correlation_id=task.correlation_id,
        task_id=task.task_id,
        worker_id=worker_id,
        status=outcome.status,
        error=outcome.error,
        duration_ms=int((time.monotonic() - started) * 1000),
        commit_sha=outcome.commit_sha,
        exit_code=outcome.exit_code,
        verdict=outcome.verdict,
        usage=usage,
    )


def stopped_output(task: DeveloperWorkerInput, worker_id: str) -> DeveloperWorkerOutput:
    return DeveloperWorkerOutput(
        request_id=task.request_id,
        correlation_id=task.correlation_id,
        task_id=task.task_id,
        worker_id=worker_id,
        status=OutcomeStatus.FAILED,
        error="stopped: the worker was asked to stop before the task finished",
    )
