"""infra-service deploys from the shared `.project.yml` contract (shared.contracts.project_file,
tested in shared): what the playbook is given, and a file the contract refuses runs nothing."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from infra_fakes import (
    FakeInventory,
    FakeLocks,
    FakePlaybooks,
    FakeSecrets,
    FakeSources,
    project_record,
    server_record,
)
from infra_service.domain.jobs import Hosting, Retries
from infra_service.domain.results import DeployReport, Failure, RunOutcome, RunStatus
from infra_service.handlers.deploy import DeployOptions, deploy_project
from shared.contracts import AnsibleDeployMessage

EVERY_KEY = """\
version: 1
services:
  web:
    build: npm ci && npm run build
    run: node server.js
    health: /healthz
    test: npm test
    directory: frontend
  worker:
    run: python -m worker
    health: /health
"""
WITHOUT_VERSION = """\
services:
  web:
    run: node server.js
    health: /healthz
"""


async def deploy(tmp_path: Path, project_file: str) -> tuple[DeployReport, FakePlaybooks]:
    project_id = uuid.uuid4().hex
    server = server_record()
    playbooks = FakePlaybooks(RunOutcome(RunStatus.SUCCESSFUL, 0))
    report = await deploy_project(
        AnsibleDeployMessage(
            task_id="task-1",
            project_id=project_id,
            project_name="shop",
            repo_full_name="acme/shop",
            commit_sha="abcdef1234",
            server="web-1",
            port=20001,
        ),
        inventory=FakeInventory([server], [project_record(project_id, "shop")]),
        secrets=FakeSecrets(),
        sources=FakeSources(project_file),
        playbooks=playbooks,
        locks=FakeLocks(),
        options=DeployOptions(
            forge_url="https://forge.example",
            jobs_dir=tmp_path / "jobs",
            hosting=Hosting(tmp_path / "deploy", tmp_path / "bin", "/srv/codegen"),
            retries=Retries(attempts=1, backoff_s=0),
            releases_kept=3,
            health_timeout_s=60,
        ),
    )
    return report, playbooks


def services(playbooks: FakePlaybooks) -> list[dict[str, Any]]:
    [job] = playbooks.jobs
    declared: list[dict[str, Any]] = job.extravars["services"]
    return declared


async def test_every_key_is_read_and_the_playbook_gets_what_it_runs_not_the_test(
    tmp_path: Path,
) -> None:
    report, playbooks = await deploy(tmp_path, EVERY_KEY)

    assert isinstance(report.outcome, RunOutcome)
    web, worker = services(playbooks)
    assert web == {
        "name": "web",
        "port": 20001,
        "run": "node server.js",
        "health": "/healthz",
        "build": "npm ci && npm run build",
        "directory": "frontend",
    }
    assert worker["name"] == "worker"
    assert (worker["build"], worker["directory"]) == (None, ".")
    assert "test" not in worker


async def test_a_file_without_a_version_is_still_deployed(tmp_path: Path) -> None:
    report, playbooks = await deploy(tmp_path, WITHOUT_VERSION)

    assert isinstance(report.outcome, RunOutcome)
    assert [s["name"] for s in services(playbooks)] == ["web"]


async def test_a_file_the_contract_refuses_is_answered_naming_the_field_and_runs_nothing(
    tmp_path: Path,
) -> None:
    report, playbooks = await deploy(tmp_path, "version: 2\n" + WITHOUT_VERSION)

    assert isinstance(report.outcome, Failure)
    assert report.outcome.error.startswith(".project.yml: version: version 2 is newer")
    assert playbooks.jobs == []
