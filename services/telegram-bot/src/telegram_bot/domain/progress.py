"""A task's progress as its user sees it: one status message, rewritten as events arrive.

The view is built from the entries of `task_progress:{task_id}` (progress events, then the
task's result, which ends it). It shows the stage, the attempt, the last test outcome and, at the
end, the outcome and the live URL; the URL also goes out as a message of its own. Edits of a
status message are spaced (Telegram allows about one a second per chat and fewer per message):
the texts in between are coalesced, the last one always shown.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from enum import StrEnum

from shared.contracts import (
    DeployResult,
    EngineeringResult,
    OutcomeStatus,
    ProgressEvent,
    ProgressType,
)

ProgressEntry = ProgressEvent | EngineeringResult | DeployResult

# Steps of an attempt, as the engineering flow names them: a1.develop, a2.test, a2.retry.
_ATTEMPT_STEP = re.compile(r"^a([0-9]{1,3})\.(\w+)$")
DETAIL_LIMIT = 600


class TaskKind(StrEnum):
    ENGINEERING = "engineering"
    DEPLOY = "deploy"


@dataclass(frozen=True)
class TaskView:
    """What the status message of one task says."""

    task_id: str
    kind: TaskKind
    project: str
    stage: str = "Queued"
    attempt: int | None = None
    pct: int | None = None
    tests: str | None = None
    """The last test outcome worth showing (an attempt's failure)."""
    outcome: OutcomeStatus | None = None
    """Set by the task's result: the view is final."""
    error: str | None = None
    url: str | None = None

    @property
    def ended(self) -> bool:
        return self.outcome is not None


def apply(view: TaskView, entry: ProgressEntry) -> TaskView:
    """The view after one more entry of the task's progress stream (nothing after the end)."""
    if view.ended:
        return view
    if isinstance(entry, ProgressEvent):
        return _progressed(view, entry)
    url = entry.deployed_url if isinstance(entry, DeployResult) else None
    return replace(
        view,
        outcome=entry.status,
        error=_detail(entry.error or "") if entry.status is not OutcomeStatus.SUCCESS else None,
        url=url or view.url,
        pct=100 if entry.status is OutcomeStatus.SUCCESS else view.pct,
    )


def _progressed(view: TaskView, event: ProgressEvent) -> TaskView:
    attempt, phase = view.attempt, None
    if event.current_step and (found := _ATTEMPT_STEP.match(event.current_step)):
        attempt, phase = int(found.group(1)), found.group(2)
    tests = view.tests
    if phase == "retry" or (event.type is ProgressType.FAILED and phase == "test"):
        tests = f"Attempt {attempt} failed: {_detail(event.error or event.message or '')}"
    elif phase == "test" and event.type is ProgressType.COMPLETED:
        tests = f"Attempt {attempt}: the tests pass"
    return replace(
        view,
        stage=_detail(event.message or event.current_step or view.stage, 200),
        attempt=attempt,
        pct=event.progress_pct if event.progress_pct is not None else view.pct,
        tests=tests,
    )


def render(view: TaskView) -> str:
    """The status message's text: plain text, a few lines."""
    title = "Building" if view.kind is TaskKind.ENGINEERING else "Deploying"
    lines = [f"{title} {view.project}"]
    if view.outcome is None:
        stage = view.stage
        if view.attempt is not None and view.kind is TaskKind.ENGINEERING:
            stage += f" (attempt {view.attempt})"
        if view.pct is not None:
            stage += f" - {view.pct}%"
        lines.append(stage)
    if view.tests:
        lines.append(view.tests)
    if view.outcome is OutcomeStatus.SUCCESS:
        lines.append(f"Live at {view.url}" if view.url else "Done.")
    elif view.outcome is not None:
        lines.append(f"Ended ({view.outcome.value}): {view.error or 'no reason given'}")
    return "\n".join(lines)


def live_message(view: TaskView) -> str | None:
    """The message of its own that brings the URL, once the task succeeded with one."""
    if view.outcome is OutcomeStatus.SUCCESS and view.url:
        return f"{view.project} is live: {view.url}"
    return None


def edit_delay(last_edit_at: float | None, now: float, interval_s: float) -> float:
    """How long the next edit of a message must wait: none for the first, else until
    `interval_s` after the last one."""
    if last_edit_at is None:
        return 0.0
    return max(0.0, last_edit_at + interval_s - now)


def _detail(text: str, limit: int = DETAIL_LIMIT) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
