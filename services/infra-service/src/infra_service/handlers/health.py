"""infra:health:queue: whether a server answers, reported on infra:health:results. The server's
key and secrets stay here; the result says only whether it answered, and why not."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from shared.contracts import ServerHealthCheck, ServerHealthResult, ServerRead, utc_now
from shared.secrets import SecretUnavailable
from shared.streams.registry import SERVER_HEALTH_RESULTS

from infra_service.domain.answers import answer_once
from infra_service.domain.health import Probe, health_result, probe_with_retries
from infra_service.domain.inventory import InvalidTarget
from infra_service.domain.jobs import Hosting, Retries, target_of
from infra_service.ports import (
    Idempotency,
    Inventory,
    InventoryRefused,
    Probes,
    Publisher,
    ResultStore,
    Secrets,
)

log = structlog.get_logger("infra_service")

SCOPE = "infra-health"


@dataclass(frozen=True)
class HealthOptions:
    """Where a deploy on the `local` machine needs to write and what it runs; how often a
    server that does not answer is asked again."""

    hosting: Hosting
    retries: Retries


async def handle_health_check(
    message: ServerHealthCheck,
    *,
    inventory: Inventory,
    secrets: Secrets,
    probes: Probes,
    idempotency: Idempotency,
    results: ResultStore,
    publisher: Publisher,
    options: HealthOptions,
) -> None:
    """A server the API does not know cannot be answered (a result names the server's id): the
    check is logged and acknowledged. Anyone may ask about any handle; a repeated request
    publishes its first result again."""
    try:
        server = await inventory.server(message.server_handle)
    except InventoryRefused as exc:
        log.warning(
            "health check of a server the API will not look up; not answered",
            handle=message.server_handle[:100],
            error=str(exc)[:300],
        )
        return
    if server is None:
        log.warning(
            "health check of a server the API does not know; not answered",
            handle=message.server_handle[:100],
        )
        return
    await answer_once(
        SCOPE,
        message.request_id,
        SERVER_HEALTH_RESULTS.pattern,
        ServerHealthResult,
        lambda: check_server(message, server, secrets=secrets, probes=probes, options=options),
        refused=lambda error: health_result(message, server.id, Probe(False, error), utc_now()),
        idempotency=idempotency,
        results=results,
        publisher=publisher,
    )


async def check_server(
    message: ServerHealthCheck,
    server: ServerRead,
    *,
    secrets: Secrets,
    probes: Probes,
    options: HealthOptions,
) -> ServerHealthResult:
    checked_at = utc_now()
    if server.is_local:
        bin_dir = options.hosting.local_supervisor_bin
        probe = await probes.local(
            options.hosting.local_deploy_root,
            [bin_dir / "supervisord", bin_dir / "supervisorctl"],
        )
        log.info("server checked", server=server.name, answered=probe.answered, error=probe.error)
        return health_result(message, server.id, probe, checked_at)
    try:
        target = target_of(server)
        ssh_key = (
            await asyncio.to_thread(secrets.resolve, server.ssh_key_ref)
            if server.ssh_key_ref
            else None
        )
    except (InvalidTarget, SecretUnavailable) as exc:
        log.warning("server cannot be checked", server=server.name, error=str(exc)[:300])
        return health_result(message, server.id, Probe(False, str(exc)), checked_at)
    probe, attempts = await probe_with_retries(lambda: probes.ssh(target, ssh_key), options.retries)
    secret_values = [ssh_key] if ssh_key else []
    result = health_result(
        message, server.id, probe, checked_at, attempts=attempts, secrets=secret_values
    )
    log.info(
        "server checked",
        server=server.name,
        answered=probe.answered,
        attempts=attempts,
        error=result.error,
    )
    return result
