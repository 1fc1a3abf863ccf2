"""What the scaffolder says back: the result on `scaffolder:results` and the task's progress."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contracts import (
    OutcomeStatus,
    ProgressEvent,
    ProgressType,
    ScaffolderMessage,
    ScaffolderResult,
)


@dataclass(frozen=True)
class Scaffold:
    repo_url: str
    commit_sha: str
    files_generated: int


def succeeded(message: ScaffolderMessage, scaffold: Scaffold) -> ScaffolderResult:
    return ScaffolderResult(
        request_id=message.request_id,
        correlation_id=message.correlation_id,
        status=OutcomeStatus.SUCCESS,
        project_id=message.project_id,
        task_id=message.task_id,
        repo_url=scaffold.repo_url,
        commit_sha=scaffold.commit_sha,
        files_generated=scaffold.files_generated,
    )


def failed(
    message: ScaffolderMessage, error: str, status: OutcomeStatus = OutcomeStatus.FAILED
) -> ScaffolderResult:
    return ScaffolderResult(
        request_id=message.request_id,
        correlation_id=message.correlation_id,
        status=status,
        error=error[:2000],
        project_id=message.project_id,
        task_id=message.task_id,
    )


def progress(
    message: ScaffolderMessage, kind: ProgressType, text: str, *, step: str, pct: int
) -> ProgressEvent | None:
    """A progress event for the request's task; None when the request names no task."""
    if message.task_id is None:
        return None
    return ProgressEvent(
        request_id=f"{message.request_id}:{step}",
        correlation_id=message.correlation_id,
        type=kind,
        task_id=message.task_id,
        message=text,
        current_step=step,
        progress_pct=pct,
        error=text if kind is ProgressType.FAILED else None,
    )


def final_progress(message: ScaffolderMessage, result: ScaffolderResult) -> ProgressEvent | None:
    if result.status is OutcomeStatus.SUCCESS:
        text = f"repository ready: {result.repo_url} ({result.files_generated} files)"
        return progress(message, ProgressType.COMPLETED, text, step="done", pct=100)
    return progress(message, ProgressType.FAILED, result.error or "failed", step="done", pct=100)
