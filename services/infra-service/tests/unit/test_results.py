from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from infra_service.adapters.ansible_runner import _outcome
from infra_service.domain.results import (
    DeployReport,
    Failure,
    RunOutcome,
    RunStatus,
    deploy_result,
    provision_result,
    tail,
)
from shared.contracts import AnsibleDeployMessage, OutcomeStatus, ProvisionerMessage

DEPLOY = AnsibleDeployMessage(
    task_id="t1",
    project_id="p1",
    project_name="shop",
    repo_full_name="acme/shop",
    commit_sha="abcdef12",
    server="web-1",
    port=20001,
)
PROVISION = ProvisionerMessage(server_handle="web-1", is_recovery=True)


def test_a_successful_deploy_reports_the_url_and_no_tails() -> None:
    outcome = RunOutcome(RunStatus.SUCCESSFUL, 0, stdout="ok\n")

    result = deploy_result(
        DEPLOY, DeployReport(outcome, url="http://1.2.3.4:20001", server_ip="1.2.3.4")
    )

    assert result.status is OutcomeStatus.SUCCESS
    assert result.deployed_url == "http://1.2.3.4:20001"
    assert (result.exit_code, result.port, result.server_ip) == (0, 20001, "1.2.3.4")
    assert result.stdout_tail is None
    assert result.error is None
    assert (result.task_id, result.project_id) == ("t1", "p1")
    assert result.correlation_id == DEPLOY.correlation_id


def test_a_failed_deploy_reports_exit_code_failing_tasks_and_scrubbed_tails() -> None:
    outcome = RunOutcome(
        RunStatus.FAILED,
        2,
        stdout="\n".join(f"line {n}" for n in range(100)) + "\nTOKEN=s3cr3t-value",
        stderr="boom",
        failures=("Build each service: exit 7",),
    )

    result = deploy_result(DEPLOY, DeployReport(outcome, url="http://x", secrets=("s3cr3t-value",)))

    assert result.status is OutcomeStatus.FAILED
    assert result.deployed_url is None
    assert result.exit_code == 2
    assert result.error == "deploy_project.yml failed with exit code 2: Build each service: exit 7"
    assert result.stdout_tail is not None
    assert result.stdout_tail.splitlines()[0] == "line 61"
    assert result.stdout_tail.endswith("TOKEN=***")
    assert result.stderr_tail == "boom"


def test_unreachable_and_timeout_say_so() -> None:
    unreachable = deploy_result(
        DEPLOY, DeployReport(RunOutcome(RunStatus.UNREACHABLE, 4), attempts=3)
    )
    timeout = deploy_result(DEPLOY, DeployReport(RunOutcome(RunStatus.TIMEOUT, 254)))

    assert unreachable.status is OutcomeStatus.FAILED
    assert unreachable.error == "the server was unreachable after 3 attempts"
    assert timeout.status is OutcomeStatus.TIMEOUT


def test_work_that_could_not_start_is_an_error_with_its_cause_scrubbed() -> None:
    result = deploy_result(
        DEPLOY, DeployReport.refused("bad s3cr3t-value", secrets=["s3cr3t-value"])
    )

    assert result.status is OutcomeStatus.ERROR
    assert result.error == "bad ***"
    assert result.exit_code is None
    assert result.server_ip is None


def test_a_deploy_that_ran_but_was_not_recorded_is_an_error_that_says_how_it_ran() -> None:
    report = DeployReport(
        RunOutcome(RunStatus.SUCCESSFUL, 0),
        url="http://1.2.3.4:20001",
        server_ip="1.2.3.4",
        secrets=("s3cr3t-value",),
        not_recorded="the API answered 409: port held by s3cr3t-value",
    )

    result = deploy_result(DEPLOY, report)

    assert result.status is OutcomeStatus.ERROR
    assert result.error == (
        "the deploy ran (successful) but was not recorded: the API answered 409: port held by ***"
    )
    assert (result.deployed_url, result.exit_code) == ("http://1.2.3.4:20001", 0)


def test_a_failed_deploy_not_recorded_either_keeps_its_tails() -> None:
    report = DeployReport(RunOutcome(RunStatus.FAILED, 2, stderr="boom"), not_recorded="409")

    result = deploy_result(DEPLOY, report)

    assert result.error == "the deploy ran (failed) but was not recorded: 409"
    assert (result.deployed_url, result.stderr_tail) == (None, "boom")


@pytest.mark.parametrize(
    "report",
    [
        DeployReport(RunOutcome(RunStatus.SUCCESSFUL, 0), url="http://x", health_path="/health"),
        DeployReport(RunOutcome(RunStatus.FAILED, 2)),
        DeployReport(RunOutcome(RunStatus.SUCCESSFUL, 0), not_recorded="409"),
        DeployReport.refused("no such server"),
    ],
)
def test_a_deploy_result_repeats_the_requests_ids(report: DeployReport) -> None:
    result = deploy_result(DEPLOY, report)

    # The requester correlates its wait with the result by the request's own id.
    assert (result.request_id, result.correlation_id, result.task_id) == (
        DEPLOY.request_id,
        DEPLOY.correlation_id,
        "t1",
    )


@pytest.mark.parametrize(
    "outcome",
    [None, RunOutcome(RunStatus.SUCCESSFUL, 0), RunOutcome(RunStatus.FAILED, 2)],
)
def test_a_provisioning_result_repeats_the_requests_ids(outcome: RunOutcome | None) -> None:
    result = provision_result(PROVISION, outcome)
    refused = provision_result(PROVISION, Failure(OutcomeStatus.ERROR, "no such server"))

    for answer in (result, refused):
        assert (answer.request_id, answer.correlation_id) == (
            PROVISION.request_id,
            PROVISION.correlation_id,
        )


@pytest.mark.parametrize(
    ("url", "path", "health_url"),
    [
        ("http://1.2.3.4:20001", "/", "http://1.2.3.4:20001/"),
        ("http://1.2.3.4:20001", "/health", "http://1.2.3.4:20001/health"),
        ("http://1.2.3.4:20001", "/api/health", "http://1.2.3.4:20001/api/health"),
        ("http://1.2.3.4:20001/", "/api/health", "http://1.2.3.4:20001/api/health"),
    ],
)
def test_a_deployed_project_reports_its_entry_points_health_url(
    url: str, path: str, health_url: str
) -> None:
    report = DeployReport(RunOutcome(RunStatus.SUCCESSFUL, 0), url=url, health_path=path)

    result = deploy_result(DEPLOY, report)

    assert (result.deployed_url, result.health_url) == (url, health_url)


def test_an_unhealthy_release_still_names_the_health_url_it_was_checked_on() -> None:
    outcome = RunOutcome(RunStatus.FAILED, 2, failures=("Each service answers: timed out",))
    report = DeployReport(outcome, url="http://1.2.3.4:20001", health_path="/health")

    result = deploy_result(DEPLOY, report)

    assert result.status is OutcomeStatus.FAILED
    assert (result.deployed_url, result.health_url) == (None, "http://1.2.3.4:20001/health")


def test_no_health_url_without_both_the_url_and_the_health_path() -> None:
    ran = RunOutcome(RunStatus.SUCCESSFUL, 0)

    assert deploy_result(DEPLOY, DeployReport(ran, url="http://x")).health_url is None
    assert deploy_result(DEPLOY, DeployReport(ran, health_path="/health")).health_url is None
    assert deploy_result(DEPLOY, DeployReport.refused("no such server")).health_url is None


def test_provisioning_results() -> None:
    done = provision_result(PROVISION, None, server_ip="1.2.3.4")
    failed = provision_result(
        PROVISION, RunOutcome(RunStatus.FAILED, 2, failures=("a: x", "b: y")), attempts=1
    )

    assert done.status is OutcomeStatus.SUCCESS
    assert (done.server_handle, done.server_ip) == ("web-1", "1.2.3.4")
    assert failed.status is OutcomeStatus.FAILED
    assert failed.errors == ["a: x", "b: y"]
    assert failed.error == "setup_server.yml failed with exit code 2: a: x; b: y"


def test_a_recovery_reports_the_programs_the_server_runs_again() -> None:
    ran = RunOutcome(RunStatus.SUCCESSFUL, 0, facts={"programs": "2"})
    setup = ProvisionerMessage(server_handle="web-1")

    assert provision_result(PROVISION, ran).services_redeployed == 2
    assert provision_result(setup, ran).services_redeployed == 0


def test_tail_keeps_the_last_lines_within_a_size() -> None:
    assert tail("a\nb\nc\n", lines=2) == "b\nc"
    assert len(tail("x" * 10_000)) == 4000


class FakeRunner:
    """What ansible-runner's Runner exposes after a run."""

    def __init__(self, status: str, rc: int, events: list[dict[str, Any]], stats: Any) -> None:
        self.status, self.rc, self.events, self.stats = status, rc, events, stats
        self.stdout = SimpleNamespace(read=lambda: "out", close=lambda: None)
        self.stderr = SimpleNamespace(read=lambda: "", close=lambda: None)


def event(name: str, task: str, **res: Any) -> dict[str, Any]:
    return {"event": name, "event_data": {"task": task, "res": res}}


def test_runner_events_map_to_an_outcome() -> None:
    runner = FakeRunner(
        "failed",
        2,
        [
            event("runner_on_ok", "Report", ansible_facts={"codegen_result": {"programs": 2}}),
            event("runner_on_failed", "Build", msg="non-zero return code", stderr="e1\ne2"),
        ],
        {"changed": {"target": 3}, "dark": {}},
    )

    outcome = _outcome(runner)

    assert outcome.status is RunStatus.FAILED
    assert outcome.exit_code == 2
    assert outcome.failures == ("Build: non-zero return code — e2",)
    assert outcome.changed == 3
    assert outcome.facts == {"programs": "2"}
    assert outcome.stdout == "out"


def test_an_unreachable_host_is_not_a_failed_playbook() -> None:
    runner = FakeRunner(
        "failed",
        4,
        [event("runner_on_unreachable", "Gathering Facts", msg="Connection refused")],
        {"dark": {"target": 1}},
    )

    outcome = _outcome(runner)

    assert outcome.status is RunStatus.UNREACHABLE
    assert outcome.failures == ("Gathering Facts: Connection refused",)


def test_a_censored_failure_stays_censored() -> None:
    runner = FakeRunner(
        "failed", 2, [event("runner_on_failed", "Program", censored="output hidden")], {}
    )

    assert _outcome(runner).failures == ("Program: output hidden",)
