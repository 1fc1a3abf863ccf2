"""The server sync job against small fakes: the API follows the provider, a vanished server is
put in maintenance with one incident however many runs see it gone, a refusing provider changes
nothing."""

from __future__ import annotations

import pytest
from scheduler.domain.server_sync import SyncOptions
from scheduler.handlers.server_sync import SyncHeldBack, sync_servers
from scheduler.ports import LeaseLost, ProviderRefused, ProviderServer, Summary
from server_fakes import FakeApi, FakeLease, FakeProvider, server
from shared.contracts import IncidentSeverity, ServerStatus

OPTIONS = SyncOptions(local=False, ssh_key_ref="file:keys/hetzner")


def machine(provider_id: str, name: str, address: str = "203.0.113.10") -> ProviderServer:
    return ProviderServer(provider_id, name, address, running=True, cpu_cores=2, disk_gb=40)


async def sync(api: FakeApi, provider: FakeProvider, lease: FakeLease | None = None) -> Summary:
    return await sync_servers(
        lease or FakeLease(), provider=provider, servers=api, incidents=api, options=OPTIONS
    )


async def test_new_machines_are_registered_and_changed_ones_updated() -> None:
    api = FakeApi()
    api.add(server("web-1", provider_id="1", address="198.51.100.1"))
    provider = FakeProvider([machine("1", "web-1"), machine("2", "web-2")])

    summary = await sync(api, provider)

    assert api.named("web-1").address == "203.0.113.10"
    added = api.named("web-2")
    assert (added.status, added.provider_id, added.ssh_key_ref) == (
        ServerStatus.PENDING_SETUP,
        "2",
        "file:keys/hetzner",
    )
    assert summary == {
        "listed": 2,
        "registered": 1,
        "updated": 1,
        "gone": 0,
        "skipped": 0,
        "refused": 0,
    }


async def test_a_vanished_server_is_put_in_maintenance_with_one_incident_over_many_runs() -> None:
    api = FakeApi()
    api.add(server("web-2", provider_id="2"))
    provider = FakeProvider([])

    for _ in range(3):
        await sync(api, provider)

    vanished = api.named("web-2")
    assert vanished.status is ServerStatus.MAINTENANCE
    [incident] = api.incidents
    assert (incident.title, incident.severity, incident.server_id) == (
        "Server web-2 is gone from the provider",
        IncidentSeverity.HIGH,
        vanished.id,
    )
    assert api.writes == [
        "incident Server web-2 is gone from the provider",
        "update web-2 ['status']",
    ]


async def test_a_refusing_provider_fails_the_run_and_changes_nothing() -> None:
    api = FakeApi()
    api.add(server("web-2", provider_id="2"))

    with pytest.raises(ProviderRefused, match="401"):
        await sync(api, FakeProvider(refuse="Hetzner Cloud answered 401 (unauthorized)"))

    assert api.writes == []


async def test_a_name_taken_meanwhile_is_counted_and_the_run_goes_on() -> None:
    api = FakeApi(taken_meanwhile={"web-1"})
    provider = FakeProvider([machine("1", "web-1"), machine("2", "web-2")])

    summary = await sync(api, provider)

    assert (summary["refused"], summary["registered"]) == (1, 1)
    assert api.named("web-2").provider_id == "2"


async def test_a_run_that_lost_its_lease_writes_nothing() -> None:
    api = FakeApi()

    with pytest.raises(LeaseLost):
        await sync(api, FakeProvider([machine("1", "web-1")]), FakeLease(lost=True))

    assert api.writes == []


async def test_most_servers_vanishing_at_once_holds_the_sync_back_with_one_incident() -> None:
    api = FakeApi()
    api.add(server("web-1", provider_id="1"), server("web-2", provider_id="2"))
    api.add(server("web-3", provider_id="3"))
    provider = FakeProvider([machine("3", "web-3"), machine("4", "web-4")])

    for _ in range(2):
        with pytest.raises(SyncHeldBack, match="no longer lists 2 of our servers"):
            await sync(api, provider)

    assert [api.named(name).status for name in ("web-1", "web-2")] == [ServerStatus.ACTIVE] * 2
    assert "web-4" not in {known.name for known in api.known.values()}
    [held_back] = api.incidents
    assert held_back.severity is IncidentSeverity.CRITICAL
    assert "web-1, web-2" in held_back.details


async def test_one_server_vanishing_of_few_is_believed() -> None:
    api = FakeApi()
    api.add(server("web-1", provider_id="1"), server("web-2", provider_id="2"))
    api.add(server("web-3", provider_id="3"))
    provider = FakeProvider([machine("1", "web-1"), machine("3", "web-3")])

    summary = await sync(api, provider)

    assert summary["gone"] == 1
    assert api.named("web-2").status is ServerStatus.MAINTENANCE
