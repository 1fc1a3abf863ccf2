"""What deploys and setups share: the target's host variables, and retries of an unreachable
server (only of an unreachable one), with fakes of the playbook runner and the API."""

from __future__ import annotations

from pathlib import Path

import pytest
from infra_fakes import FakeInventory, FakePlaybooks, server_record
from infra_service.domain.inventory import InvalidTarget, Target
from infra_service.domain.jobs import Hosting, Retries, host_vars, run_with_retries, target_of
from infra_service.domain.results import RunOutcome, RunStatus
from infra_service.ports import PlaybookJob
from shared.contracts import IncidentSeverity, ServerStatus

HOSTING = Hosting(
    local_deploy_root=Path("/data/deploy"),
    local_supervisor_bin=Path("/app/bin"),
    remote_deploy_root="/srv/codegen",
)
UNREACHABLE = RunOutcome(RunStatus.UNREACHABLE, 4, stdout="ssh: connect refused s3cr3t-value")
FAILED = RunOutcome(RunStatus.FAILED, 2)
SUCCESSFUL = RunOutcome(RunStatus.SUCCESSFUL, 0)


def job(secret_env: dict[str, str] | None = None) -> PlaybookJob:
    target = Target("s1", "web-1", "203.0.113.7", is_local=False)
    return PlaybookJob("setup_server.yml", target, {}, secret_env=secret_env or {})


class Sleeps:
    def __init__(self) -> None:
        self.waited: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waited.append(seconds)


def test_the_local_target_runs_projects_under_our_root_with_our_supervisor() -> None:
    local = host_vars(server_record(name="local", is_local=True), HOSTING)
    remote = host_vars(server_record(), HOSTING)

    assert local == {
        "deploy_root": "/data/deploy",
        "supervisord": "/app/bin/supervisord",
        "supervisorctl": "/app/bin/supervisorctl",
        "app_user": "",
    }
    assert remote["deploy_root"] == "/srv/codegen"
    assert remote["supervisord"] == "/usr/bin/supervisord"
    assert remote["app_user"] == "codegen"


def test_a_server_record_becomes_a_checked_target() -> None:
    server = server_record(ssh_user="deploy", ssh_port=2222)

    assert target_of(server) == Target(
        server.id, "web-1", "203.0.113.7", is_local=False, ssh_user="deploy", ssh_port=2222
    )
    with pytest.raises(InvalidTarget):
        target_of(server_record(address="-oProxyCommand=touch /tmp/x"))


async def test_an_unreachable_server_is_tried_again_with_a_doubling_wait() -> None:
    playbooks = FakePlaybooks(UNREACHABLE, UNREACHABLE, SUCCESSFUL)
    inventory, sleeps = FakeInventory(), Sleeps()

    outcome, attempts = await run_with_retries(
        job(),
        server_record(),
        playbooks=playbooks,
        inventory=inventory,
        retries=Retries(attempts=3, backoff_s=5),
        sleep=sleeps,
    )

    assert (outcome, attempts) == (SUCCESSFUL, 3)
    assert sleeps.waited == [5, 10]
    assert (inventory.statuses, inventory.incidents) == ([], [])


async def test_a_playbook_that_ran_and_failed_is_never_run_again() -> None:
    playbooks, sleeps = FakePlaybooks(FAILED, SUCCESSFUL), Sleeps()

    outcome, attempts = await run_with_retries(
        job(),
        server_record(),
        playbooks=playbooks,
        inventory=FakeInventory(),
        retries=Retries(attempts=3, backoff_s=5),
        sleep=sleeps,
    )

    assert (outcome, attempts, len(playbooks.jobs), sleeps.waited) == (FAILED, 1, 1, [])


async def test_a_server_unreachable_every_time_is_marked_so_with_one_scrubbed_incident() -> None:
    server, inventory, sleeps = server_record(), FakeInventory(), Sleeps()

    outcome, attempts = await run_with_retries(
        job(secret_env={"CODEGEN_APP_SECRETS": "s3cr3t-value"}),
        server,
        playbooks=FakePlaybooks(UNREACHABLE),
        inventory=inventory,
        retries=Retries(attempts=2, backoff_s=0.5),
        sleep=sleeps,
    )

    assert (outcome.status, attempts, sleeps.waited) == (RunStatus.UNREACHABLE, 2, [0.5])
    assert inventory.statuses == [(server.id, ServerStatus.UNREACHABLE)]
    [(server_id, severity, title, details)] = inventory.incidents
    assert (server_id, severity, title) == (
        server.id,
        IncidentSeverity.HIGH,
        "Server web-1 is unreachable",
    )
    assert "unreachable after 2 attempts" in details
    assert "s3cr3t-value" not in details
    assert "ssh: connect refused ***" in details
