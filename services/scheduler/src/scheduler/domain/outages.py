"""Server health's rules: which servers are checked, what a check's result changes (a server's
status, its one outage incident), and what admins are told."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from shared.contracts import ServerStatus

# Servers a check can change; the others (new, pending_setup, maintenance) only get its time.
CHECKED = (ServerStatus.ACTIVE, ServerStatus.UNREACHABLE)
# A result dated later than this after our own clock comes from a clock gone wrong: recorded, it
# would make every later check look older and change nothing until that time came.
FUTURE_LEEWAY = timedelta(minutes=5)


class Change(StrEnum):
    STALE = "stale"
    """The server was checked later than this result says: it changes nothing."""
    FROM_THE_FUTURE = "from_the_future"
    """The result is dated well after now: it changes nothing either."""
    RECORD = "record"
    """Only the check's time is recorded."""
    OUTAGE = "outage"
    """An active server stopped answering: unreachable, and one incident opened."""
    RECOVERY = "recovery"
    """An unreachable server answers again: active, and its outage incident resolved."""


@dataclass(frozen=True)
class Observation:
    """A check's result as the rules need it."""

    reachable: bool
    checked_at: datetime
    error: str | None = None


def request_id(server_id: str, fence: int) -> str:
    """One check per server per run; a run never repeats its fence."""
    return f"health.{server_id}.{fence}"


def change(
    status: ServerStatus, last_checked_at: datetime | None, observed: Observation, now: datetime
) -> Change:
    """What a result changes. Results can arrive out of order (and the same one twice): one no
    newer than the server's last recorded check changes nothing."""
    if _utc(observed.checked_at) > _utc(now) + FUTURE_LEEWAY:
        return Change.FROM_THE_FUTURE
    if last_checked_at is not None and _utc(observed.checked_at) <= _utc(last_checked_at):
        return Change.STALE
    if status is ServerStatus.ACTIVE and not observed.reachable:
        return Change.OUTAGE
    if status is ServerStatus.UNREACHABLE and observed.reachable:
        return Change.RECOVERY
    return Change.RECORD


def new_status(what: Change) -> ServerStatus | None:
    return {Change.OUTAGE: ServerStatus.UNREACHABLE, Change.RECOVERY: ServerStatus.ACTIVE}.get(what)


def outage_title(server_name: str) -> str:
    """Stable for the whole outage (an open incident with the same title is not opened again);
    infra-service names an unreachable server's incident the same way."""
    return f"Server {server_name} is unreachable"


def outage_details(server_name: str, address: str, observed: Observation) -> str:
    return (
        f"Server {server_name} ({address}) did not answer a health check at "
        f"{_when(observed.checked_at)}: {observed.error or 'no answer'}.\n"
        "It is marked unreachable; this incident is resolved when it answers again."
    )


def recovery_details(previous: str, observed: Observation) -> str:
    """The incident's details with one line more: when the server came back."""
    line = f"Back at {_when(observed.checked_at)}: the server answered a health check."
    return f"{previous.rstrip()}\n{line}" if previous.strip() else line


def _utc(moment: datetime) -> datetime:
    # The API's times are UTC; one without a zone is read as UTC, never as local time.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _when(moment: datetime) -> str:
    return _utc(moment).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
