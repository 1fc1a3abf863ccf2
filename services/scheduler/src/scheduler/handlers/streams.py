"""Stream housekeeping: every work stream trimmed of what all its groups acknowledged, and admins
told (an incident) when a dead-letter stream grew."""

from __future__ import annotations

import structlog
from shared.contracts import IncidentSeverity

from scheduler.domain import housekeeping
from scheduler.ports import Incidents, Lease, Streams, Summary

log = structlog.get_logger("scheduler")


class TrimFailed(Exception):
    """Some streams could not be trimmed (the others were)."""


async def keep_streams(lease: Lease, *, streams: Streams, incidents: Incidents) -> Summary:
    trimmed, failed = 0, []
    names = await streams.work_streams()
    for stream in names:
        lease.check()
        try:
            trimmed += await streams.trim(stream)
        except Exception as exc:
            log.warning("could not trim a stream", stream=stream, error=str(exc)[:300])
            failed.append(stream)
    counts = await streams.dead_letters()
    grown = housekeeping.dead_letter_growth(await streams.seen_dead_letters(), counts)
    if grown:
        lease.check()
        # Told before the new counts are remembered: a run that dies in between tells twice
        # rather than never.
        await incidents.open_incident(
            server_id=None,
            severity=IncidentSeverity.MEDIUM,
            title=housekeeping.alert_title(grown),
            details=housekeeping.alert_details(grown),
        )
    lease.check()
    await streams.remember_dead_letters(counts)
    if failed:
        raise TrimFailed(f"{len(failed)} of {len(names)} streams not trimmed: {failed[:5]}")
    return {
        "streams": len(names),
        "trimmed": trimmed,
        "dead_letters": sum(counts.values()),
        "new_dead_letters": sum(growth.added for growth in grown),
    }
