"""Server sync: the API's servers follow the provider's list. New machines are registered pending
their setup (provisioning retries set them up), changed ones updated, vanished ones put in
maintenance with one incident. A provider that refuses fails the run before anything changed."""

from __future__ import annotations

import structlog
from shared.contracts import IncidentSeverity, ServerStatus, ServerUpdate

from scheduler.domain import server_sync
from scheduler.domain.server_sync import SyncOptions
from scheduler.ports import ApiRefused, Incidents, Lease, Provider, Servers, Summary

log = structlog.get_logger("scheduler")


class SyncHeldBack(Exception):
    """The provider's list lost most of our servers at once: nothing was changed."""


async def sync_servers(
    lease: Lease,
    *,
    provider: Provider,
    servers: Servers,
    incidents: Incidents,
    options: SyncOptions,
) -> Summary:
    listed = await provider.servers()
    known = await servers.servers()
    plan = server_sync.plan(listed, known, options)
    if server_sync.too_many_gone(plan, known):
        lease.check()
        await incidents.open_incident(
            server_id=None,
            severity=IncidentSeverity.CRITICAL,
            title=server_sync.HELD_BACK_TITLE,
            details=server_sync.held_back_details(plan),
        )
        raise SyncHeldBack(
            f"the provider no longer lists {len(plan.gone)} of our servers; nothing changed"
        )
    for skipped in plan.skipped:
        log.warning(
            "a provider's server is not synced", name=skipped.name[:100], reason=skipped.reason
        )
    registered = refused = 0
    for new in plan.register:
        lease.check()
        try:
            await servers.create_server(new)
        except ApiRefused as exc:
            # Another run or an admin took the name meanwhile: the next run sees it.
            log.warning("a provider's server was not registered", name=new.name, error=str(exc))
            refused += 1
            continue
        registered += 1
        log.info("server registered from the provider", name=new.name, provider_id=new.provider_id)
    for update in plan.update:
        lease.check()
        await servers.update_server(update.server.id, update.change)
        log.info(
            "server updated from the provider",
            name=update.server.name,
            changed=sorted(update.change.model_fields_set),
        )
    for gone in plan.gone:
        lease.check()
        # Told before the status changes: a run that dies in between tells again (the API keeps
        # one open incident per title) rather than never.
        await incidents.open_incident(
            server_id=gone.id,
            severity=IncidentSeverity.HIGH,
            title=server_sync.gone_title(gone),
            details=server_sync.gone_details(gone),
        )
        lease.check()
        await servers.update_server(gone.id, ServerUpdate(status=ServerStatus.MAINTENANCE))
        log.warning("server gone from the provider; in maintenance", name=gone.name)
    return {
        "listed": len(listed),
        "registered": registered,
        "updated": len(plan.update),
        "gone": len(plan.gone),
        "skipped": len(plan.skipped),
        "refused": refused,
    }
