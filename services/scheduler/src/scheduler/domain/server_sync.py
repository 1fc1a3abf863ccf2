"""Server sync's rules: what the API must learn from the provider's list. A server the provider
has and the API does not is registered (pending its setup), a changed address or size updated,
and a server the provider no longer lists put in maintenance, never deleted: what ran there is
an admin's to sort out."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError
from shared.contracts import ServerCreate, ServerRead, ServerSpecs, ServerStatus, ServerUpdate
from shared.contracts.base import Slug

from scheduler.ports import ProviderServer

_SLUG: TypeAdapter[str] = TypeAdapter(Slug)


@dataclass(frozen=True)
class SyncOptions:
    """`local`: the provider is the embedded machine, whose one server is the `is_local` one;
    any other provider never touches that server. `ssh_key_ref` is given to servers the
    provider adds."""

    local: bool
    ssh_key_ref: str | None = None


@dataclass(frozen=True)
class Skipped:
    name: str
    reason: str


@dataclass(frozen=True)
class Change:
    server: ServerRead
    change: ServerUpdate


@dataclass(frozen=True)
class SyncPlan:
    register: list[ServerCreate] = field(default_factory=list)
    update: list[Change] = field(default_factory=list)
    gone: list[ServerRead] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


HELD_BACK_TITLE = "Server sync held back: the provider no longer lists most of our servers"


def too_many_gone(sync: SyncPlan, known: Sequence[ServerRead]) -> bool:
    """More than one server, and more than half of those the provider keeps, gone at once: far
    more likely a wrong token, project or answer than machines deleted. Nothing is put in
    maintenance on that word; a person decides."""
    kept = [
        server
        for server in known
        if server.provider_id
        and not server.is_local
        and server.status is not ServerStatus.MAINTENANCE
    ]
    return len(sync.gone) > 1 and 2 * len(sync.gone) > len(kept)


def held_back_details(sync: SyncPlan) -> str:
    names = ", ".join(server.name for server in sync.gone[:20])
    return (
        f"The provider's list lacks {len(sync.gone)} of the servers it keeps for us ({names}). "
        "Server sync changes nothing while that holds: if the machines were really deleted, put "
        "their servers in maintenance by hand; otherwise check the provider's token and project."
    )


def gone_title(server: ServerRead) -> str:
    """Stable: an open incident with the same title is not opened again."""
    return f"Server {server.name} is gone from the provider"


def gone_details(server: ServerRead) -> str:
    return (
        f"The provider no longer lists server {server.name} (provider id {server.provider_id}, "
        f"address {server.address}). It is in maintenance, so nothing is deployed there; "
        "it was not deleted. Remove it, or set its status back once the provider lists it again."
    )


def plan(
    listed: Sequence[ProviderServer], known: Sequence[ServerRead], options: SyncOptions
) -> SyncPlan:
    if options.local:
        return _plan_local(listed, known)
    return _plan_provider(listed, known, options.ssh_key_ref)


def _plan_local(listed: Sequence[ProviderServer], known: Sequence[ServerRead]) -> SyncPlan:
    result = SyncPlan()
    local = next((server for server in known if server.is_local), None)
    for machine in listed[:1]:
        if local is not None:
            _update(result, local, machine)
        elif isinstance(address := _address(machine, known), Skipped):
            result.skipped.append(address)
        else:
            _register(result, machine, address=address, is_local=True)
    return result


def _plan_provider(
    listed: Sequence[ProviderServer], known: Sequence[ServerRead], ssh_key_ref: str | None
) -> SyncPlan:
    result = SyncPlan()
    ours = [server for server in known if not server.is_local]
    by_provider_id = {server.provider_id: server for server in ours if server.provider_id}
    by_name = {server.name: server for server in known}
    seen: set[str] = set()
    for machine in listed:
        if machine.provider_id in seen:
            continue
        seen.add(machine.provider_id)
        match = by_provider_id.get(machine.provider_id)
        if match is None:
            namesake = by_name.get(machine.name)
            if namesake is not None and (namesake.is_local or namesake.provider_id):
                # The name is another server's (the local one, or another provider machine's).
                result.skipped.append(Skipped(machine.name, "its name is another server's"))
                continue
            match = namesake
        if match is not None:
            _update(result, match, machine)
            continue
        if isinstance(address := _address(machine, known), Skipped):
            result.skipped.append(address)
            continue
        _register(
            result,
            machine,
            address=address,
            ssh_key_ref=ssh_key_ref,
            provider_id=machine.provider_id,
        )
    result.gone.extend(
        server
        for server in ours
        if server.provider_id
        and server.provider_id not in seen
        and server.status is not ServerStatus.MAINTENANCE
    )
    return result


def _address(machine: ProviderServer, known: Sequence[ServerRead]) -> str | Skipped:
    """The address a new machine is registered with, or why it cannot be registered (yet)."""
    try:
        _SLUG.validate_python(machine.name)
    except ValidationError:
        return Skipped(
            machine.name, "its name is not a valid server name (lower-case letters, digits, -)"
        )
    if any(server.name == machine.name for server in known):
        return Skipped(machine.name, "its name is another server's")
    if not machine.address:
        return Skipped(machine.name, "it has no public IPv4 address yet")
    if not machine.running:
        # Set up once it runs: a machine still starting would only be found unreachable.
        return Skipped(machine.name, "it is not running yet")
    return machine.address


def _register(result: SyncPlan, machine: ProviderServer, **fields: object) -> None:
    """Registered pending its setup: provisioning retries set it up."""
    try:
        server = ServerCreate.model_validate(
            {"name": machine.name, "specs": _specs(machine), "status": ServerStatus.PENDING_SETUP}
            | fields
        )
    except ValidationError as exc:
        result.skipped.append(Skipped(machine.name, _invalid(exc)))
        return
    result.register.append(server)


def _update(result: SyncPlan, server: ServerRead, machine: ProviderServer) -> None:
    changes: dict[str, object] = {}
    if machine.address and machine.address != server.address:
        changes["address"] = machine.address
    specs = _specs(machine, server.specs)
    if specs != server.specs:
        changes["specs"] = specs
    if not changes:
        return
    try:
        result.update.append(Change(server, ServerUpdate.model_validate(changes)))
    except ValidationError as exc:
        result.skipped.append(Skipped(machine.name, _invalid(exc)))


def _invalid(error: ValidationError) -> str:
    fields = sorted({".".join(str(part) for part in item["loc"]) for item in error.errors()})
    return f"the provider's record is not a valid server ({', '.join(fields)})"


def _specs(machine: ProviderServer, known: ServerSpecs | None = None) -> ServerSpecs:
    """The provider's size; what it does not say is left as it was."""
    known = known or ServerSpecs()
    return ServerSpecs(
        cpu_cores=_positive(machine.cpu_cores) or known.cpu_cores,
        memory_mb=_positive(machine.memory_mb) or known.memory_mb,
        disk_gb=_positive(machine.disk_gb) or known.disk_gb,
    )


def _positive(value: int | None) -> int | None:
    return value if value is not None and 0 < value < 2**31 else None
