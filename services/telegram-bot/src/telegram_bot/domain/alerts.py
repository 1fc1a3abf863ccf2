"""What admins are told: provisioning outcomes and new incidents, and who the admins are."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from shared.contracts import IncidentRead, OutcomeStatus, ProvisionerResult, UserRead

ERRORS_SHOWN = 5
DETAIL_LIMIT = 1500


def admin_chats(users: Iterable[UserRead], configured: Iterable[int]) -> list[str]:
    """The chats of the API's admin users with a Telegram id, and of the configured ids: each
    once, in a stable order."""
    ids = {user.telegram_id for user in users if user.is_admin and user.telegram_id}
    return [str(telegram_id) for telegram_id in sorted(ids | set(configured))]


def provisioning_text(result: ProvisionerResult) -> str:
    where = result.server_handle + (f" ({result.server_ip})" if result.server_ip else "")
    if result.status is OutcomeStatus.SUCCESS:
        lines = [f"Server {where} is set up."]
        if result.services_redeployed:
            lines.append(f"{result.services_redeployed} service(s) redeployed.")
    else:
        lines = [f"Setting up server {where} ended: {result.status.value}."]
        if result.error:
            lines.append(_short(result.error))
    for error in (result.errors or [])[:ERRORS_SHOWN]:
        lines.append(f"- {_short(error, 300)}")
    return "\n".join(lines)


def incident_text(incident: IncidentRead, server_name: str | None) -> str:
    where = f" on {server_name}" if server_name else ""
    lines = [f"Incident ({incident.severity.value}){where}: {incident.title}"]
    if incident.details:
        lines.append(_short(incident.details))
    return "\n".join(lines)


def is_recent(timestamp: datetime, now: datetime, window_s: float) -> bool:
    """Whether a message is new enough to be told about (a first start replays no history)."""
    return (now - timestamp).total_seconds() <= window_s


def _short(text: str, limit: int = DETAIL_LIMIT) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
