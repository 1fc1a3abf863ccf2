"""The retry policy of engineering: what a failed worker run means for the task."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts import DeveloperWorkerOutput, OutcomeStatus

# What the next attempt is told of the last one's failure (the prompt's room is not infinite).
FAILURE_CONTEXT_CHARS = 8000


@dataclass(frozen=True)
class Failure:
    stage: str  # "develop" | "test" | "start"
    text: str
    retryable: bool = True


def developer_failure(output: DeveloperWorkerOutput) -> Failure:
    """A developer run that did not deliver a commit. Crashes, out-of-memory kills, time-outs
    and the agent's own failures are all worth another attempt with the failure as context;
    a run that says no attempt can succeed (a missing repository) is not."""
    reason = output.error or f"the developer worker ended {output.status.value}"
    if output.status is OutcomeStatus.SUCCESS and not output.commit_sha:
        reason = "the developer reported success but pushed no commit"
    return Failure(
        "develop",
        _bounded(f"The previous attempt failed ({output.status.value}): {reason}"),
        retryable=output.retryable,
    )


def test_failure(output: DeveloperWorkerOutput, commit_sha: str) -> Failure:
    """The project's tests failed (or could not run) at the developer's commit."""
    reason = output.error or f"the test run ended {output.status.value}"
    text = f"The tests of commit {commit_sha[:12]} failed ({output.status.value}): {reason}"
    if output.output_tail and output.output_tail not in text:
        text += f"\n\nLast lines of the test output:\n{output.output_tail}"
    return Failure("test", _bounded(text), retryable=output.retryable)


def lost(stage: str, what: str, within_s: float) -> Failure:
    return Failure(stage, f"{what} did not answer within {int(within_s)} s (lost or too slow)")


def not_started(error: str | None) -> Failure:
    return Failure("start", f"the worker could not be created: {error or 'no reason given'}")


def _bounded(text: str) -> str:
    if len(text) <= FAILURE_CONTEXT_CHARS:
        return text
    # The end of a failure (the assertion, the traceback's last frame) says the most.
    return "…" + text[-(FAILURE_CONTEXT_CHARS - 1) :]
