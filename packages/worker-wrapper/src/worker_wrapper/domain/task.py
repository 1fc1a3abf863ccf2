"""A developer task's rules: the prompt, what a turn of the agent comes to, the output and the
lifecycle event it makes."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace

from shared.contracts import (
    AgentUsage,
    AgentVerdict,
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    LifecycleEventKind,
    OutcomeStatus,
    VerdictStatus,
    WorkMode,
)
from shared.logging import scrub_text

from worker_wrapper.domain.turns import Stopped, TurnResult, TurnStatus
from worker_wrapper.domain.verdict import PROTOCOL, VerdictError, parse_verdict

# The follow-up turn that asks for a missing verdict needs no more than this.
VERDICT_FOLLOW_UP_S = 300
STOPPED_ERROR = "stopped: the worker was asked to stop before the task finished"
NO_VERDICT = "the agent gave no <result> verdict"
NO_COMMIT = "the agent reported success but made no commit"
NO_REPOSITORY = "the repository does not exist or is not a git repository; no attempt can succeed"

# What says a repository is not there, in git's own (untranslated: git runs without LANG)
# words: a path that does not exist or is no repository, local, file:// or ssh; an HTTP(S) 404
# (GitHub's answer too for a private repository the token may not read); and GitHub's over ssh.
# Nothing else is final: a refused or missing credential may be an installation token that has
# expired (the next worker gets a fresh one), a refused connection, an unknown host, a timeout or
# a 5xx may pass, and "Could not read from remote repository" follows all of these.
_NO_REPOSITORY = re.compile(
    r"fatal: repository '.*' (?:does not exist|not found)$"
    r"|fatal: '.*' does not appear to be a git repository$"
    r"|ERROR: Repository not found\.?$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Outcome:
    status: OutcomeStatus
    error: str | None = None
    commit_sha: str | None = None
    verdict: AgentVerdict | None = None
    exit_code: int | None = None
    output_tail: str | None = None
    retryable: bool = True


def build_prompt(task: DeveloperWorkerInput) -> str:
    parts = [task.prompt]
    if task.attempt > 1:
        parts.append(f"\nThis is attempt {task.attempt}.")
    if task.previous_failure:
        parts.append(f"The previous attempt failed:\n{task.previous_failure}\nFix that.")
    parts.append("\nEnd with the <result> block described in your instructions.")
    return "\n".join(parts)


def instructions(role: str, existing: str | None) -> str:
    """The agent's instructions file: the role's instructions and the verdict protocol, after
    the project's own file when it has one."""
    ours = f"{role.strip()}\n\n{PROTOCOL}" if role.strip() else PROTOCOL
    return ours if existing is None else f"{existing}\n\n{ours}"


def turn_env(extra_env: Mapping[str, str], task: DeveloperWorkerInput) -> dict[str, str]:
    """What the agent's turns see besides the runner's allowlist: the request being served."""
    return {**extra_env, "REQUEST_ID": task.request_id, "CORRELATION_ID": task.correlation_id}


def follow_up_timeout_s(task: DeveloperWorkerInput) -> float:
    return min(task.timeout, VERDICT_FOLLOW_UP_S)


def add_usage(total: AgentUsage | None, more: AgentUsage | None) -> AgentUsage | None:
    """Usage over every turn of the task (the verdict follow-up costs tokens too)."""
    if total is None or more is None:
        return more or total
    summed = {
        name: None if a is None and b is None else (a or 0) + (b or 0)
        for name in AgentUsage.model_fields
        for a, b in [(getattr(total, name), getattr(more, name))]
    }
    return AgentUsage.model_validate(summed)


def judge(task: DeveloperWorkerInput, result: TurnResult) -> Outcome | None:
    """What a turn comes to; None when the agent gave no verdict (ask it once more). Raises
    Stopped when the worker was stopped during the turn."""
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


def judge_follow_up(task: DeveloperWorkerInput, result: TurnResult) -> Outcome:
    """The answer to the request for a verdict: still none is a failure."""
    return judge(task, result) or Outcome(
        OutcomeStatus.FAILED, NO_VERDICT, exit_code=result.exit_code
    )


def repository_missing(git_error: str) -> bool:
    """Whether git's error (a GitError's text: `git clone failed: ` and the tail of its stderr)
    says the repository does not exist or is not a git repository, so no attempt can clone it."""
    return _NO_REPOSITORY.search(git_error) is not None


def git_failed(git_error: str, *, commit_sha: str | None = None) -> Outcome:
    """Cloning (or checking a commit out) failed: an error another attempt may get past, unless
    the repository is not there (the task then fails at once). Scrubbed: a URL may hold a
    password."""
    error = scrub_text(git_error)
    if repository_missing(git_error):
        return Outcome(
            OutcomeStatus.ERROR, f"{NO_REPOSITORY}: {error}", commit_sha=commit_sha, retryable=False
        )
    return Outcome(OutcomeStatus.ERROR, error, commit_sha=commit_sha)


def delivered(claimed: Outcome, *, base: str, head: str, push_error: str | None) -> Outcome:
    """A success the agent claims, checked against git: the commit is read from git, never from
    the agent's words, and must have been pushed."""
    if head == base:
        return replace(claimed, status=OutcomeStatus.FAILED, error=NO_COMMIT)
    if push_error is not None:
        return replace(
            claimed,
            status=OutcomeStatus.ERROR,
            error=f"could not push {head}: {push_error}",
            commit_sha=head,
        )
    return replace(claimed, commit_sha=head)


def task_output(
    task: DeveloperWorkerInput,
    outcome: Outcome,
    *,
    worker_id: str,
    duration_ms: int,
    usage: AgentUsage | None,
) -> DeveloperWorkerOutput:
    return DeveloperWorkerOutput(
        request_id=task.request_id,
        correlation_id=task.correlation_id,
        task_id=task.task_id,
        worker_id=worker_id,
        status=outcome.status,
        error=outcome.error,
        duration_ms=duration_ms,
        commit_sha=outcome.commit_sha,
        exit_code=outcome.exit_code,
        verdict=outcome.verdict,
        usage=usage,
        output_tail=outcome.output_tail,
        retryable=outcome.retryable,
    )


def stopped_output(task: DeveloperWorkerInput, worker_id: str) -> DeveloperWorkerOutput:
    """A test run names the commit it was testing; a develop task has pushed nothing."""
    return DeveloperWorkerOutput(
        request_id=task.request_id,
        correlation_id=task.correlation_id,
        task_id=task.task_id,
        worker_id=worker_id,
        status=OutcomeStatus.FAILED,
        error=STOPPED_ERROR,
        commit_sha=task.commit_sha if task.mode is WorkMode.TEST else None,
    )


@dataclass(frozen=True)
class TaskEnd:
    """How the worker ends after its task: the process's exit code and the lifecycle event."""

    exit_code: int
    event: LifecycleEventKind
    result: dict[str, str | None]


def task_end(output: DeveloperWorkerOutput) -> TaskEnd:
    succeeded = output.status == OutcomeStatus.SUCCESS
    return TaskEnd(
        exit_code=0 if succeeded else 1,
        event=LifecycleEventKind.COMPLETED if succeeded else LifecycleEventKind.FAILED,
        result={"status": str(output.status), "commit_sha": output.commit_sha},
    )
