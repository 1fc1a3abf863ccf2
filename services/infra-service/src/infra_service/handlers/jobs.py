"""What deploys and provisioning share: the target, and a run that retries unreachable servers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

import structlog
from shared.contracts import IncidentSeverity, Message, ServerRead, ServerStatus

from infra_service.bootstrap import Container
from infra_service.domain.inventory import Target, check_target
from infra_service.domain.results import RunOutcome, RunStatus, describe, tail
from infra_service.domain.secrets import scrub
from infra_service.ports import InventoryRefused, PlaybookJob

log = structlog.get_logger("infra_service")

RESULT_TTL_S = 7 * 24 * 3600
M = TypeVar("M", bound=Message)


async def answer_once(
    scope: str,
    request_id: str,
    stream: str,
    result_type: type[M],
    produce: Callable[[], Awaitable[M]],
    *,
    refused: Callable[[str], M],
    deps: Container,
) -> None:
    """Produce the result once per request, keep it, and publish it; a redelivered request
    publishes the kept result again (consumers drop the repeat by its request id).

    What the API refuses will be refused again: that is the request's failed result, answered
    now. Anything else raised (the API's 5xx, no connection, Redis) leaves the entry pending, to
    be tried again."""
    key = f"infra:result:{scope}:{request_id}"

    async def once() -> None:
        try:
            result = await produce()
        except InventoryRefused as exc:
            log.warning("request refused by the API", error=str(exc))
            result = refused(str(exc))
        await deps.redis.set(key, result.model_dump_json(), ex=RESULT_TTL_S)

    await deps.idempotency.run_once(scope, request_id, once)
    stored = cast(str | None, await deps.redis.get(key))
    if stored is None:
        log.warning("request already answered and its result expired; nothing to repeat")
        return
    await deps.publisher.publish(stream, result_type.model_validate_json(stored))


def target_of(server: ServerRead) -> Target:
    """Raises InvalidTarget for a server record that could inject into ssh or Ansible."""
    return check_target(
        Target(
            server_id=server.id,
            name=server.name,
            address=server.address,
            is_local=server.is_local,
            ssh_user=server.ssh_user,
            ssh_port=server.ssh_port,
        )
    )


def host_vars(server: ServerRead, deps: Container) -> dict[str, object]:
    """Where projects live on the target, and the supervisor that runs them."""
    settings = deps.settings
    if server.is_local:
        return {
            "deploy_root": str(settings.local_deploy_root.resolve()),
            "supervisord": str(deps.local_supervisor_bin / "supervisord"),
            "supervisorctl": str(deps.local_supervisor_bin / "supervisorctl"),
            "app_user": "",
        }
    return {
        "deploy_root": settings.remote_deploy_root,
        "supervisord": "/usr/bin/supervisord",
        "supervisorctl": "/usr/bin/supervisorctl",
        "app_user": "codegen",
    }


async def run_with_retries(
    job: PlaybookJob, server: ServerRead, deps: Container
) -> tuple[RunOutcome, int]:
    """Run the job; an unreachable server is tried again with backoff, then marked unreachable.

    A playbook that reached the server and failed is never run again here.
    """
    settings = deps.settings
    delay = settings.ssh_backoff_s
    for attempt in range(1, settings.ssh_attempts + 1):
        outcome = await deps.playbooks.run(job)
        if outcome.status is not RunStatus.UNREACHABLE:
            return outcome, attempt
        log.warning(
            "server unreachable",
            server=server.name,
            attempt=attempt,
            of=settings.ssh_attempts,
            retry_in_s=delay if attempt < settings.ssh_attempts else None,
        )
        if attempt < settings.ssh_attempts:
            await asyncio.sleep(delay)
            delay *= 2
    await mark_unreachable(server, outcome, settings.ssh_attempts, job, deps)
    return outcome, settings.ssh_attempts


async def mark_unreachable(
    server: ServerRead, outcome: RunOutcome, attempts: int, job: PlaybookJob, deps: Container
) -> None:
    await deps.inventory.set_server_status(server.id, ServerStatus.UNREACHABLE)
    details = "\n\n".join(
        part
        for part in (describe(outcome, job.playbook, attempts), tail(outcome.stdout, lines=20))
        if part
    )
    await deps.inventory.open_incident(
        server.id,
        IncidentSeverity.HIGH,
        f"Server {server.name} is unreachable",
        scrub(details, job.secret_env.values()) or "",
    )
    log.error("server marked unreachable", server=server.name, attempts=attempts)
