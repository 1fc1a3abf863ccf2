"""A test run's rules (a developer worker in `test` mode): the tests a project declares in its
`.project.yml`, and what their runs come to. No agent takes part: the commit is judged by the
project's own test commands alone."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from shared.contracts import OutcomeStatus
from shared.contracts.project_file import PROJECT_FILE, ProjectFileError, parse_project_file
from shared.logging import scrub_text

from worker_wrapper.domain.task import Outcome
from worker_wrapper.domain.turns import Stopped

# What an output carries of the tests' combined output (the contract allows 20,000).
TAIL_CHARS = 8000
NO_TESTS = f"no test command declared in {PROJECT_FILE}"


class NotTestable(Exception):
    """The commit cannot be tested (no project file, or an invalid one): the message says why."""


@dataclass(frozen=True)
class DeclaredTest:
    """One service's test command, run with `/bin/sh -c` in `directory` of the checkout."""

    service: str
    command: str
    directory: str


class RunEnd(StrEnum):
    EXITED = "exited"
    TIMEOUT = "timeout"
    STOPPED = "stopped"
    NOT_STARTED = "not_started"


@dataclass(frozen=True)
class CommandRun:
    """How one test command ended, and the tail of its stdout and stderr (interleaved)."""

    end: RunEnd
    exit_code: int | None = None
    output: str = ""
    reason: str = ""  # why it did not start
    started: bool = True

    @property
    def passed(self) -> bool:
        return self.end is RunEnd.EXITED and self.exit_code == 0


def declared_tests(text: str | None, *, commit: str) -> list[DeclaredTest]:
    """The test commands of the project file `text` (None: there is none), in the order of its
    services; raises NotTestable."""
    if text is None:
        raise NotTestable(f"no {PROJECT_FILE} at commit {commit}")
    try:
        project = parse_project_file(text)
    except ProjectFileError as exc:
        raise NotTestable(str(exc)) from exc
    return [
        DeclaredTest(name, service.test, service.directory)
        for name, service in project.services.items()
        if service.test
    ]


def not_started(reason: str) -> CommandRun:
    return CommandRun(RunEnd.NOT_STARTED, reason=reason, started=False)


def out_of_time() -> CommandRun:
    """A command the run's time limit left no time for."""
    return CommandRun(RunEnd.TIMEOUT, started=False)


def not_tested(commit: str, error: str) -> Outcome:
    """The commit has no project file, or an invalid one: the next attempt's developer may fix
    it (git's own failures are `task.git_failed`)."""
    return Outcome(OutcomeStatus.ERROR, scrub_text(error), commit_sha=commit)


def tested(
    runs: Sequence[tuple[DeclaredTest, CommandRun]], *, commit: str, timeout_s: int
) -> Outcome:
    """What the commands run (in order, up to the first that did not pass) come to: a success
    only when there was at least one and all passed. Raises Stopped when the worker was stopped
    during one."""
    if not runs:
        return Outcome(OutcomeStatus.FAILED, NO_TESTS, commit_sha=commit)
    tail = output_tail(runs)
    failing = next(((test, run) for test, run in runs if not run.passed), None)
    if failing is None:
        return Outcome(OutcomeStatus.SUCCESS, commit_sha=commit, exit_code=0, output_tail=tail)
    test, run = failing
    if run.end is RunEnd.STOPPED:
        raise Stopped
    status = OutcomeStatus.TIMEOUT if run.end is RunEnd.TIMEOUT else OutcomeStatus.FAILED
    error = scrub_text(_why(test, run, timeout_s)) + (f"\n{tail}" if tail else "")
    return Outcome(
        status, error, commit_sha=commit, exit_code=run.exit_code, output_tail=tail or None
    )


def _why(test: DeclaredTest, run: CommandRun, timeout_s: int) -> str:
    where = f"{test.service}: `{test.command}`"
    if run.end is RunEnd.TIMEOUT:
        return f"tests timed out after {timeout_s}s: {where} did not finish"
    if run.end is RunEnd.NOT_STARTED:
        return f"tests failed: {where} could not start: {run.reason}"
    return f"tests failed: {where} exited {run.exit_code}"


def output_tail(runs: Sequence[tuple[DeclaredTest, CommandRun]]) -> str:
    """The last TAIL_CHARS characters of every started command's output, each after a line
    naming it; scrubbed whole, then cut (a cut first could split a secret past recognition)."""
    text = "".join(
        f"[{test.service}] $ {test.command}\n{_ending_a_line(run.output)}"
        for test, run in runs
        if run.started
    )
    return scrub_text(text)[-TAIL_CHARS:]


def _ending_a_line(output: str) -> str:
    return output if not output or output.endswith("\n") else f"{output}\n"
