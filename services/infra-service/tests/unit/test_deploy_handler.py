"""The deploy handler with fakes of its ports: what it refuses before any effect, what it runs
under the lock, and a deploy the API would not record."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from infra_fakes import (
    FakeIdempotency,
    FakeInventory,
    FakeLocks,
    FakePlaybooks,
    FakeResults,
    FakeSecrets,
    FakeSources,
    project_record,
    server_record,
)
from infra_service.domain.jobs import Hosting, Retries
from infra_service.domain.results import DeployReport, Failure, RunOutcome, RunStatus
from infra_service.handlers.deploy import DeployOptions, deploy_project, handle_deploy
from shared.contracts import AnsibleDeployMessage, AnsibleDeployResult, OutcomeStatus, ServerStatus
from shared.testing.fakes import FakePublisher

PROJECT_FILE = """\
services:
  web:
    run: exec python3 app.py
    health: /health
  worker:
    run: exec python3 worker.py
    health: /ready
"""
COMMIT = "abcdef1234"


class Deploy:
    def __init__(self, tmp_path: Path, project_file: str | None = PROJECT_FILE) -> None:
        self.project_id = uuid.uuid4().hex
        self.server = server_record(status="unreachable")
        self.inventory = FakeInventory([self.server], [project_record(self.project_id, "shop")])
        self.secrets = FakeSecrets({"env:SHOP": "API_TOKEN=s3cr3t-value"})
        self.sources = FakeSources(project_file)
        self.playbooks = FakePlaybooks(RunOutcome(RunStatus.SUCCESSFUL, 0))
        self.locks = FakeLocks()
        self.options = DeployOptions(
            forge_url="https://forge.example",
            jobs_dir=tmp_path / "jobs",
            hosting=Hosting(tmp_path / "deploy", tmp_path / "bin", "/srv/codegen"),
            retries=Retries(attempts=1, backoff_s=0),
            releases_kept=3,
            health_timeout_s=60,
        )

    def message(self, **fields: object) -> AnsibleDeployMessage:
        return AnsibleDeployMessage.model_validate(
            {
                "task_id": "task-1",
                "project_id": self.project_id,
                "project_name": "shop",
                "repo_full_name": "acme/shop",
                "commit_sha": COMMIT,
                "server": "web-1",
                "port": 20001,
                "secrets_ref": "env:SHOP",
            }
            | fields
        )

    async def run(self, **fields: object) -> DeployReport:
        return await deploy_project(
            self.message(**fields),
            inventory=self.inventory,
            secrets=self.secrets,
            sources=self.sources,
            playbooks=self.playbooks,
            locks=self.locks,
            options=self.options,
        )


def refusal(report: DeployReport) -> str:
    assert isinstance(report.outcome, Failure), report
    assert report.outcome.status is OutcomeStatus.ERROR
    return report.outcome.error


@pytest.mark.parametrize(
    ("fields", "error"),
    [
        ({"server": "gone"}, "server 'gone' is not registered"),
        ({"project_name": "other"}, "is named 'shop', not 'other'"),
        ({"project_id": uuid.uuid4().hex}, "is not known"),
        ({"secrets_ref": "env:MISSING"}, "secret 'env:MISSING' is not set"),
    ],
)
async def test_what_the_records_or_secrets_forbid_is_refused_before_any_effect(
    tmp_path: Path, fields: dict[str, object], error: str
) -> None:
    deploy = Deploy(tmp_path)

    report = await deploy.run(**fields)

    assert error in refusal(report)
    assert (deploy.locks.taken, deploy.sources.fetched, deploy.playbooks.jobs) == ([], [], [])


async def test_a_deploy_runs_under_its_lock_and_records_every_service(tmp_path: Path) -> None:
    deploy = Deploy(tmp_path)

    report = await deploy.run()

    assert deploy.locks.taken == [f"deploy {deploy.server.id} {deploy.project_id}"]
    assert deploy.sources.fetched == [("https://forge.example/acme/shop.git", COMMIT, None)]
    [job] = deploy.playbooks.jobs
    assert job.playbook == "deploy_project.yml"
    assert [s["name"] for s in job.extravars["services"]] == ["web", "worker"]
    assert job.extravars["services"][0]["port"] == 20001
    assert job.secret_env == {"CODEGEN_APP_SECRETS": '{"API_TOKEN": "s3cr3t-value"}'}
    assert "s3cr3t-value" not in str(job.extravars)
    assert (report.url, report.health_path) == ("http://203.0.113.7:20001", "/health")
    assert report.secrets == ("s3cr3t-value",)
    assert [(d["service_name"], d["url"]) for d in deploy.inventory.deployments] == [
        ("web", "http://203.0.113.7:20001"),
        ("worker", None),
    ]
    # It ran there: a server thought unreachable is active again.
    assert deploy.inventory.statuses == [(deploy.server.id, ServerStatus.ACTIVE)]
    assert not list((tmp_path / "jobs").iterdir()), "the checkout is removed"


async def test_the_entry_points_port_is_the_one_the_caller_allocated_under_the_projects_name(
    tmp_path: Path,
) -> None:
    """The deploy flow allocates the project's port (service name: the project's name) before it
    asks for the deploy: the entry point takes that allocation, it does not ask for its port
    again under its own name (which the API refuses: the port is taken)."""
    deploy = Deploy(tmp_path)
    server, project = deploy.server.id, deploy.project_id
    port = await deploy.inventory.port_for(server, project, "shop", port=20001)

    report = await deploy.run(port=port)

    assert isinstance(report.outcome, RunOutcome), report
    assert report.outcome.succeeded
    [job] = deploy.playbooks.jobs
    assert [(s["name"], s["port"]) for s in job.extravars["services"]] == [
        ("web", 20001),
        ("worker", 21000),
    ]
    assert deploy.inventory.ports == {
        (server, project, "shop"): 20001,
        (server, project, "worker"): 21000,
    }
    # The records name the services as the project file does.
    assert [(d["service_name"], d["port"]) for d in deploy.inventory.deployments] == [
        ("web", 20001),
        ("worker", 21000),
    ]
    assert report.url == "http://203.0.113.7:20001"


async def test_a_redeploy_keeps_every_services_port(tmp_path: Path) -> None:
    deploy = Deploy(tmp_path)

    await deploy.run()
    await deploy.run()

    first, again = (job.extravars["services"] for job in deploy.playbooks.jobs)
    assert first == again
    assert len(deploy.inventory.ports) == 2


async def test_a_service_named_like_the_project_but_not_its_entry_point_is_refused(
    tmp_path: Path,
) -> None:
    """Its port would be kept under the entry point's key (the project's name)."""
    deploy = Deploy(tmp_path, project_file=PROJECT_FILE.replace("worker:", "shop:"))

    report = await deploy.run()

    assert refusal(report) == (
        "service 'shop' is named like the project but is not its entry point ('web'): "
        "rename it in .project.yml"
    )
    assert deploy.playbooks.jobs == []
    assert deploy.inventory.ports == {}, "a port was allocated before the refusal"
    assert deploy.inventory.deployments == []


async def test_an_entry_point_named_like_the_project_is_deployed(tmp_path: Path) -> None:
    deploy = Deploy(tmp_path, project_file=PROJECT_FILE.replace("web:", "shop:"))

    report = await deploy.run()

    assert isinstance(report.outcome, RunOutcome), report
    assert [(d["service_name"], d["port"]) for d in deploy.inventory.deployments] == [
        ("shop", 20001),
        ("worker", 21000),
    ]


async def test_a_repository_without_a_project_file_is_refused_naming_it(tmp_path: Path) -> None:
    deploy = Deploy(tmp_path, project_file=None)

    report = await deploy.run()

    assert refusal(report) == "the repository has no .project.yml at this commit"
    assert report.server_ip == "203.0.113.7"
    assert deploy.playbooks.jobs == []


async def test_a_deploy_the_api_would_not_record_says_so(tmp_path: Path) -> None:
    deploy = Deploy(tmp_path)
    deploy.inventory.refuse_records = True

    report = await deploy.run()

    assert isinstance(report.outcome, RunOutcome)
    assert report.outcome.succeeded
    assert report.not_recorded == "the API answered 409 to POST /api/service-deployments"


async def test_an_unreachable_server_keeps_its_records(tmp_path: Path) -> None:
    deploy = Deploy(tmp_path)
    deploy.playbooks = FakePlaybooks(RunOutcome(RunStatus.UNREACHABLE, 4))

    report = await deploy.run()

    assert report.attempts == 1
    assert deploy.inventory.deployments == []
    assert deploy.inventory.statuses == [(deploy.server.id, ServerStatus.UNREACHABLE)]


async def test_a_redelivered_deploy_publishes_its_kept_result_with_the_requests_ids(
    tmp_path: Path,
) -> None:
    deploy = Deploy(tmp_path)
    message = deploy.message()
    idempotency, results, publisher = FakeIdempotency(), FakeResults(), FakePublisher()

    for _ in range(2):
        await handle_deploy(
            message,
            inventory=deploy.inventory,
            secrets=deploy.secrets,
            sources=deploy.sources,
            playbooks=deploy.playbooks,
            locks=deploy.locks,
            idempotency=idempotency,
            results=results,
            publisher=publisher,
            options=deploy.options,
        )

    assert len(deploy.playbooks.jobs) == 1, "a redelivery ran the playbook again"
    [first, again] = publisher.published
    assert first == again
    stream, result = first
    assert stream == "deploy:results"
    assert isinstance(result, AnsibleDeployResult)
    assert result.status is OutcomeStatus.SUCCESS
    assert (result.request_id, result.correlation_id, result.task_id) == (
        message.request_id,
        message.correlation_id,
        "task-1",
    )
    assert result.health_url == "http://203.0.113.7:20001/health"
