"""The rules of a test run (a developer worker in `test` mode): the tests a project declares, and
what their runs come to."""

from __future__ import annotations

import pytest
from shared.contracts import DeveloperWorkerInput, OutcomeStatus, WorkMode
from worker_wrapper.domain import task, tester
from worker_wrapper.domain.tester import CommandRun, DeclaredTest, NotTestable, RunEnd
from worker_wrapper.domain.turns import Stopped

COMMIT = "a" * 40
PROJECT = """
services:
  api:
    run: python -m app
    health: /health
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
API = DeclaredTest("api", "pytest -q", "api")
WORKER = DeclaredTest("worker", "make check", ".")


def passed(output: str = "ok\n") -> CommandRun:
    return CommandRun(RunEnd.EXITED, 0, output)


def test_the_tests_are_the_services_that_declare_one_in_their_order() -> None:
    assert tester.declared_tests(PROJECT, commit=COMMIT) == [API, WORKER]


def test_a_project_without_a_project_file_cannot_be_tested() -> None:
    with pytest.raises(NotTestable, match=f"^no .project.yml at commit {COMMIT}$"):
        tester.declared_tests(None, commit=COMMIT)


def test_an_invalid_project_file_cannot_be_tested_and_the_parser_says_why() -> None:
    with pytest.raises(NotTestable, match=r"^\.project\.yml: services: Field required$"):
        tester.declared_tests("version: 1\n", commit=COMMIT)
    with pytest.raises(NotTestable, match="not valid YAML"):
        tester.declared_tests("services: [", commit=COMMIT)


def test_all_tests_passing_is_a_success_with_exit_code_0_and_the_output_tail() -> None:
    outcome = tester.tested(
        [(API, passed("3 passed\n")), (WORKER, passed("checked\n"))], commit=COMMIT, timeout_s=60
    )
    assert (outcome.status, outcome.error, outcome.exit_code, outcome.commit_sha) == (
        OutcomeStatus.SUCCESS,
        None,
        0,
        COMMIT,
    )
    assert outcome.output_tail == "[api] $ pytest -q\n3 passed\n[worker] $ make check\nchecked\n"


def test_a_failing_command_fails_the_run_naming_the_service_command_and_code() -> None:
    outcome = tester.tested(
        [(API, passed()), (WORKER, CommandRun(RunEnd.EXITED, 2, "E   assert 1 == 2\n"))],
        commit=COMMIT,
        timeout_s=60,
    )
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.exit_code == 2
    assert outcome.commit_sha == COMMIT
    assert outcome.output_tail is not None
    assert outcome.output_tail.endswith("[worker] $ make check\nE   assert 1 == 2\n")
    assert outcome.error == (f"tests failed: worker: `make check` exited 2\n{outcome.output_tail}")


def test_a_command_past_the_time_limit_is_a_timeout_naming_it() -> None:
    outcome = tester.tested(
        [(API, CommandRun(RunEnd.TIMEOUT, -15, "collecting...\n"))], commit=COMMIT, timeout_s=30
    )
    assert outcome.status is OutcomeStatus.TIMEOUT
    assert outcome.exit_code == -15
    assert str(outcome.error).startswith(
        "tests timed out after 30s: api: `pytest -q` did not finish\n"
    )
    assert str(outcome.error).endswith("collecting...\n")


def test_a_command_left_no_time_is_a_timeout_naming_it_without_output_of_its_own() -> None:
    outcome = tester.tested(
        [(API, passed("3 passed\n")), (WORKER, tester.out_of_time())], commit=COMMIT, timeout_s=30
    )
    assert (outcome.status, outcome.exit_code) == (OutcomeStatus.TIMEOUT, None)
    assert outcome.output_tail == "[api] $ pytest -q\n3 passed\n"
    assert outcome.error == (
        f"tests timed out after 30s: worker: `make check` did not finish\n{outcome.output_tail}"
    )


def test_a_command_that_could_not_start_fails_the_run_with_the_reason() -> None:
    outcome = tester.tested(
        [(API, tester.not_started("no directory 'api' at this commit"))],
        commit=COMMIT,
        timeout_s=30,
    )
    assert (outcome.status, outcome.exit_code) == (OutcomeStatus.FAILED, None)
    assert outcome.error == (
        "tests failed: api: `pytest -q` could not start: no directory 'api' at this commit"
    )


def test_no_test_declared_is_a_failure_not_a_pass() -> None:
    outcome = tester.tested([], commit=COMMIT, timeout_s=30)
    assert (outcome.status, outcome.error, outcome.commit_sha, outcome.exit_code) == (
        OutcomeStatus.FAILED,
        "no test command declared in .project.yml",
        COMMIT,
        None,
    )
    assert outcome.output_tail is None


def test_a_stopped_command_stops_the_task() -> None:
    with pytest.raises(Stopped):
        tester.tested([(API, CommandRun(RunEnd.STOPPED, -15))], commit=COMMIT, timeout_s=30)


def test_the_output_tail_is_the_last_characters_and_scrubbed() -> None:
    noisy = "x" * 20_000 + "\npassword=hunter2 Authorization: Bearer abcdefghijkl\nlast line\n"
    outcome = tester.tested(
        [(API, CommandRun(RunEnd.EXITED, 1, noisy))], commit=COMMIT, timeout_s=30
    )
    tail = str(outcome.output_tail)
    assert len(tail) == tester.TAIL_CHARS
    assert tail.endswith("last line\n")
    assert "hunter2" not in tail
    assert "abcdefghijkl" not in tail
    assert "hunter2" not in str(outcome.error)


def test_the_command_in_an_error_is_scrubbed_too() -> None:
    secretive = DeclaredTest("api", "API_TOKEN=s3cr3tvalue pytest", ".")
    outcome = tester.tested(
        [(secretive, CommandRun(RunEnd.EXITED, 1, ""))], commit=COMMIT, timeout_s=30
    )
    assert "s3cr3tvalue" not in str(outcome.error)
    assert "s3cr3tvalue" not in str(outcome.output_tail)


def test_a_commit_that_cannot_be_tested_is_an_error_naming_the_commit() -> None:
    outcome = tester.not_tested(COMMIT, "commit abc is not in the repository")
    assert (outcome.status, outcome.error, outcome.commit_sha) == (
        OutcomeStatus.ERROR,
        "commit abc is not in the repository",
        COMMIT,
    )


TEST_TASK = DeveloperWorkerInput(
    task_id="t-1",
    project_id="p-1",
    prompt="test it",
    repo_url="/srv/repo.git",
    mode=WorkMode.TEST,
    commit_sha=COMMIT,
)


def test_a_test_runs_output_carries_its_tail_and_the_tested_commit() -> None:
    outcome = tester.tested([(API, passed("fine\n"))], commit=COMMIT, timeout_s=30)
    output = task.task_output(TEST_TASK, outcome, worker_id="dev-1", duration_ms=5, usage=None)
    assert (output.status, output.commit_sha, output.exit_code, output.output_tail) == (
        OutcomeStatus.SUCCESS,
        COMMIT,
        0,
        "[api] $ pytest -q\nfine\n",
    )
    assert (output.request_id, output.task_id) == (TEST_TASK.request_id, "t-1")


def test_a_stopped_test_run_names_the_commit_it_was_testing() -> None:
    output = task.stopped_output(TEST_TASK, "dev-1")
    assert (output.status, output.error, output.commit_sha) == (
        OutcomeStatus.FAILED,
        task.STOPPED_ERROR,
        COMMIT,
    )
