"""Server sync's rules: what the API must learn from the provider's list."""

from __future__ import annotations

from scheduler.domain.server_sync import SyncOptions, SyncPlan, gone_title, plan
from scheduler.ports import ProviderServer
from server_fakes import server
from shared.contracts import ServerSpecs, ServerStatus

HETZNER = SyncOptions(local=False, ssh_key_ref="file:keys/hetzner")
LOCAL = SyncOptions(local=True)


def machine(
    provider_id: str,
    name: str,
    *,
    address: str | None = "203.0.113.10",
    running: bool = True,
    cpu_cores: int | None = 2,
    memory_mb: int | None = 4096,
    disk_gb: int | None = 40,
) -> ProviderServer:
    return ProviderServer(provider_id, name, address, running, cpu_cores, memory_mb, disk_gb)


def sizes(result: SyncPlan) -> tuple[int, int, int, int]:
    """How many servers are registered, updated, gone and skipped."""
    return len(result.register), len(result.update), len(result.gone), len(result.skipped)


def test_a_machine_the_api_lacks_is_registered_pending_its_setup() -> None:
    result = plan([machine("42", "web-1")], [], HETZNER)

    [new] = result.register
    assert new.name == "web-1"
    assert new.status is ServerStatus.PENDING_SETUP
    assert new.address == "203.0.113.10"
    assert new.provider_id == "42"
    assert new.ssh_key_ref == "file:keys/hetzner"
    assert new.specs == ServerSpecs(cpu_cores=2, memory_mb=4096, disk_gb=40)
    assert not new.is_local
    assert sizes(result) == (1, 0, 0, 0)


def test_a_known_machine_with_a_new_address_and_size_is_updated() -> None:
    known = server("web-1", provider_id="42", specs=ServerSpecs(cpu_cores=2, memory_mb=4096))

    result = plan([machine("42", "web-1", address="203.0.113.99", cpu_cores=4)], [known], HETZNER)

    [update] = result.update
    assert update.server == known
    assert update.change.address == "203.0.113.99"
    assert update.change.specs == ServerSpecs(cpu_cores=4, memory_mb=4096, disk_gb=40)
    assert sizes(result) == (0, 1, 0, 0)


def test_a_known_machine_that_did_not_change_changes_nothing() -> None:
    known = server(
        "web-1",
        provider_id="42",
        address="203.0.113.10",
        specs=ServerSpecs(cpu_cores=2, memory_mb=4096, disk_gb=40),
    )

    result = plan([machine("42", "renamed-at-the-provider")], [known], HETZNER)

    assert sizes(result) == (0, 0, 0, 0)


def test_what_the_provider_does_not_say_about_a_size_is_kept() -> None:
    known = server("web-1", provider_id="42", specs=ServerSpecs(cpu_cores=2, disk_gb=80))

    result = plan(
        [machine("42", "web-1", address=None, cpu_cores=None, memory_mb=None, disk_gb=None)],
        [known],
        HETZNER,
    )

    assert result.update == []


def test_a_server_registered_by_hand_is_matched_by_its_name() -> None:
    by_hand = server("web-1", address="198.51.100.1")

    result = plan([machine("42", "web-1")], [by_hand], HETZNER)

    [update] = result.update
    assert update.server == by_hand
    assert update.change.address == "203.0.113.10"
    assert result.register == []


def test_a_server_the_provider_no_longer_lists_is_gone_once() -> None:
    vanished = server("web-2", provider_id="43")
    already = server("web-3", provider_id="44", status=ServerStatus.MAINTENANCE)

    result = plan([machine("42", "web-1")], [vanished, already], HETZNER)

    assert result.gone == [vanished]
    assert gone_title(vanished) == "Server web-2 is gone from the provider"


def test_servers_of_no_provider_and_the_local_one_are_never_gone() -> None:
    by_hand = server("db-1")
    local = server("local", is_local=True, provider_id="local")

    result = plan([], [by_hand, local], HETZNER)

    assert sizes(result) == (0, 0, 0, 0)


def test_a_provider_never_touches_the_local_server_even_by_its_name() -> None:
    local = server("local", is_local=True, address="127.0.0.1")

    result = plan([machine("42", "local")], [local], HETZNER)

    assert sizes(result)[:3] == (0, 0, 0)
    assert [skipped.name for skipped in result.skipped] == ["local"]


def test_a_name_another_provider_machine_has_is_skipped() -> None:
    older = server("web-1", provider_id="41")

    result = plan([machine("41", "web-0"), machine("42", "web-1")], [older], HETZNER)

    assert result.register == []
    assert [skipped.reason for skipped in result.skipped] == ["its name is another server's"]


def test_machines_that_cannot_be_registered_yet_are_skipped_with_the_reason() -> None:
    listed = [
        machine("1", "Web_1"),
        machine("2", "x" * 64),
        machine("3", "web-3", address=None),
        machine("4", "web-4", running=False),
    ]

    result = plan(listed, [], HETZNER)

    assert result.register == []
    assert [(skipped.name[:5], skipped.reason.split(" (")[0]) for skipped in result.skipped] == [
        ("Web_1", "its name is not a valid server name"),
        ("xxxxx", "its name is not a valid server name"),
        ("web-3", "it has no public IPv4 address yet"),
        ("web-4", "it is not running yet"),
    ]


def test_a_machine_listed_but_skipped_is_not_taken_for_gone() -> None:
    known = server("web-4", provider_id="4")

    result = plan([machine("4", "Web_4", running=False)], [known], HETZNER)

    assert result.gone == []


def test_a_machine_listed_twice_counts_once() -> None:
    result = plan([machine("42", "web-1"), machine("42", "web-1")], [], HETZNER)

    assert [new.name for new in result.register] == ["web-1"]


def test_the_embedded_machine_is_registered_as_the_local_server_when_missing() -> None:
    result = plan([machine("local", "local", address="127.0.0.1")], [server("web-1")], LOCAL)

    [new] = result.register
    assert (new.name, new.address, new.is_local) == ("local", "127.0.0.1", True)
    assert new.status is ServerStatus.PENDING_SETUP
    assert new.provider_id is None


def test_the_local_server_once_registered_is_left_alone_by_the_embedded_machine() -> None:
    local = server("local", is_local=True, address="127.0.0.1", status=ServerStatus.ACTIVE)

    embedded = machine(
        "local", "local", address="127.0.0.1", cpu_cores=None, memory_mb=None, disk_gb=None
    )

    result = plan([embedded], [local], LOCAL)

    assert sizes(result) == (0, 0, 0, 0)


def test_the_embedded_machine_never_takes_another_servers_name() -> None:
    result = plan([machine("local", "local")], [server("local")], LOCAL)

    assert result.register == []
    assert [skipped.reason for skipped in result.skipped] == ["its name is another server's"]
