"""The health check handler with fakes of its ports: one result per check saying whether the
server answered, tried again like a deploy, never carrying the server's key; a server the API
does not know is not answered."""

from __future__ import annotations

from pathlib import Path

import pytest
from infra_fakes import (
    ANSWERED,
    FakeIdempotency,
    FakeInventory,
    FakeProbes,
    FakeResults,
    FakeSecrets,
    server_record,
)
from infra_service.domain.health import Probe, health_result, probe_with_retries
from infra_service.domain.jobs import Hosting, Retries
from infra_service.handlers.health import HealthOptions, handle_health_check
from infra_service.ports import InventoryRefused
from shared.contracts import ServerHealthCheck, ServerHealthResult, ServerRead, utc_now
from shared.testing.fakes import FakePublisher

RESULTS = "infra:health:results"
KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA-the-key\n-----END"


class Check:
    def __init__(self, tmp_path: Path, *answers: Probe, local: Probe = ANSWERED) -> None:
        self.remote = server_record(name="web-1", ssh_key_ref="env:SSH_KEY")
        self.local = server_record(name="local", address="127.0.0.1", is_local=True)
        self.inventory = FakeInventory([self.remote, self.local])
        self.secrets = FakeSecrets({"env:SSH_KEY": KEY})
        self.probes = FakeProbes(*answers, local=local)
        self.hosting = Hosting(tmp_path / "deploy", tmp_path / "bin", "/srv/codegen")
        self.idempotency = FakeIdempotency()
        self.results = FakeResults()
        self.publisher = FakePublisher()

    async def __call__(self, message: ServerHealthCheck, attempts: int = 3) -> None:
        await handle_health_check(
            message,
            inventory=self.inventory,
            secrets=self.secrets,
            probes=self.probes,
            idempotency=self.idempotency,
            results=self.results,
            publisher=self.publisher,
            options=HealthOptions(self.hosting, Retries(attempts=attempts, backoff_s=0)),
        )

    def answers(self) -> list[ServerHealthResult]:
        found = self.publisher.on(RESULTS)
        assert all(isinstance(result, ServerHealthResult) for result in found)
        return [result for result in found if isinstance(result, ServerHealthResult)]


def ask(server: ServerRead | str) -> ServerHealthCheck:
    handle = server if isinstance(server, str) else server.name
    return ServerHealthCheck(server_handle=handle)


async def test_a_server_that_answers_is_reported_reachable_with_the_checks_ids(
    tmp_path: Path,
) -> None:
    check = Check(tmp_path, Probe(True))
    message = ask(check.remote)

    await check(message)

    [result] = check.answers()
    assert result.reachable
    assert result.error is None
    assert result.server_id == check.remote.id
    assert (result.request_id, result.correlation_id) == (
        message.request_id,
        message.correlation_id,
    )
    [(target, key)] = check.probes.ssh_calls
    assert (target.address, target.ssh_port, target.ssh_user) == ("203.0.113.7", 22, "root")
    assert key == KEY


async def test_a_server_is_found_by_its_id_as_well_as_its_name(tmp_path: Path) -> None:
    check = Check(tmp_path, Probe(True))
    check.inventory.servers[check.remote.id] = check.remote

    await check(ask(check.remote.id))

    assert [result.server_id for result in check.answers()] == [check.remote.id]


async def test_a_server_that_answers_on_a_later_try_is_reachable(tmp_path: Path) -> None:
    check = Check(tmp_path, Probe(False, "Connection reset"), Probe(True))

    await check(ask(check.remote), attempts=3)

    assert [result.reachable for result in check.answers()] == [True]
    assert len(check.probes.ssh_calls) == 2


async def test_a_server_that_never_answers_is_reported_after_every_try_with_the_last_reason(
    tmp_path: Path,
) -> None:
    check = Check(tmp_path, Probe(False, "ssh: connect to host 203.0.113.7 port 22: refused"))

    await check(ask(check.remote), attempts=3)

    [result] = check.answers()
    assert not result.reachable
    assert result.error == (
        "no answer after 3 attempts: ssh: connect to host 203.0.113.7 port 22: refused"
    )
    assert len(check.probes.ssh_calls) == 3


async def test_the_servers_key_is_never_in_the_result_even_when_the_probe_repeats_it(
    tmp_path: Path,
) -> None:
    check = Check(tmp_path, Probe(False, f"Load key: invalid format: {KEY}"))

    await check(ask(check.remote), attempts=1)

    [result] = check.answers()
    assert KEY not in result.model_dump_json()
    assert "invalid format" in (result.error or "")


async def test_the_local_machine_answers_when_a_deploy_could_run_there(tmp_path: Path) -> None:
    check = Check(tmp_path, local=Probe(True))

    await check(ask(check.local))

    assert [result.reachable for result in check.answers()] == [True]
    assert check.probes.ssh_calls == []
    programs = [tmp_path / "bin" / "supervisord", tmp_path / "bin" / "supervisorctl"]
    assert check.probes.local_calls == [(tmp_path / "deploy", programs)]


async def test_the_local_machine_does_not_answer_when_its_deploy_root_cannot_be_written(
    tmp_path: Path,
) -> None:
    check = Check(tmp_path, local=Probe(False, "the deploy root cannot be written"))

    await check(ask(check.local))

    [result] = check.answers()
    assert not result.reachable
    assert result.error == "the deploy root cannot be written"


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"address": "-oProxyCommand=touch /tmp/x"}, "address"),
        ({"ssh_user": "{{ lookup('pipe', 'id') }}"}, "ssh user"),
        ({"ssh_key_ref": "env:MISSING"}, "not set"),
    ],
)
async def test_a_server_that_cannot_be_asked_safely_is_reported_unreachable_without_a_try(
    tmp_path: Path, fields: dict[str, str], reason: str
) -> None:
    check = Check(tmp_path, Probe(True))
    hostile = server_record(name="odd", **fields)
    check.inventory.servers["odd"] = hostile

    await check(ask(hostile))

    [result] = check.answers()
    assert not result.reachable
    assert reason in (result.error or "")
    assert check.probes.ssh_calls == []


async def test_a_server_the_api_does_not_know_is_not_answered(tmp_path: Path) -> None:
    check = Check(tmp_path, Probe(True))

    await check(ask("ghost"))

    assert check.answers() == []
    assert check.results.kept_json == {}
    assert check.probes.ssh_calls == []


async def test_a_handle_the_api_refuses_to_look_up_is_not_answered(tmp_path: Path) -> None:
    class RefusingInventory(FakeInventory):
        async def server(self, handle: str) -> ServerRead | None:
            raise InventoryRefused("the API answered 422 to GET /api/servers")

    check = Check(tmp_path, Probe(True))
    check.inventory = RefusingInventory()

    await check(ask("x" * 128))

    assert check.answers() == []


async def test_a_repeated_request_gets_its_first_result_again_without_a_second_check(
    tmp_path: Path,
) -> None:
    check = Check(tmp_path, Probe(False, "refused"), Probe(True))
    message = ask(check.remote)

    await check(message, attempts=1)
    await check(message, attempts=1)

    first, second = check.answers()
    assert second == first
    assert not first.reachable
    assert len(check.probes.ssh_calls) == 1


async def test_tries_wait_the_backoff_doubling_each_time() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    async def never() -> Probe:
        return Probe(False, "refused")

    retries = Retries(attempts=4, backoff_s=0.5)

    probe, attempts = await probe_with_retries(never, retries, sleep=sleep)

    assert (probe, attempts) == (Probe(False, "refused"), 4)
    assert waits == [0.5, 1.0, 2.0]


def test_a_long_reason_is_cut_to_what_the_contract_holds() -> None:
    result = health_result(ask("web-1"), "abc", Probe(False, "x" * 5000), utc_now())

    assert len(result.error or "") == 2000
