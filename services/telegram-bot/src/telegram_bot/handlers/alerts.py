"""Admins hear of provisioning outcomes (`provisioner:results`) and of new incidents (the
API's open incidents, looked at periodically: incidents are only kept by the API)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

import structlog
from shared.contracts import ProvisionerResult

from telegram_bot.domain import alerts
from telegram_bot.ports import Catalog, Chat, ChatRefused, Told, Users

log = structlog.get_logger("telegram_bot")

PROVISIONING = "provisioning"
INCIDENT = "incident"


async def notify_provisioning(
    result: ProvisionerResult,
    *,
    users: Users,
    chat: Chat,
    told: Told,
    admin_ids: Iterable[int],
    window_s: float,
    now: Callable[[], datetime],
) -> None:
    """Tell every admin how a server's provisioning ended (once; old results are history).
    Raises Unavailable (the result is read again)."""
    if not alerts.is_recent(result.timestamp, now(), window_s):
        return
    if await told.already(PROVISIONING, result.request_id):
        return
    await _tell_admins(alerts.provisioning_text(result), users=users, chat=chat, ids=admin_ids)
    await told.remember(PROVISIONING, result.request_id)


async def notify_incidents(
    *, catalog: Catalog, users: Users, chat: Chat, told: Told, admin_ids: Iterable[int]
) -> int:
    """Tell every admin of each open incident not told yet; how many were told."""
    incidents = [
        incident
        for incident in await catalog.open_incidents()
        if not await told.already(INCIDENT, incident.id)
    ]
    if not incidents:
        return 0
    servers = {server.id: server.name for server in await catalog.servers()}
    for incident in sorted(incidents, key=lambda incident: incident.created_at):
        text = alerts.incident_text(incident, servers.get(incident.server_id or ""))
        await _tell_admins(text, users=users, chat=chat, ids=admin_ids)
        await told.remember(INCIDENT, incident.id)
    return len(incidents)


async def _tell_admins(text: str, *, users: Users, chat: Chat, ids: Iterable[int]) -> None:
    chats = alerts.admin_chats(await users.admins(), ids)
    if not chats:
        log.warning("no admin to tell", text=text[:200])
    for address in chats:
        try:
            await chat.send(address, text)
        except ChatRefused as exc:
            log.info("an admin's chat refused an alert", chat=address, error=str(exc))
