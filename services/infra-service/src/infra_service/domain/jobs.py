"""What deploys and provisioning share: the target, where projects live on it, and a run that
tries an unreachable server again (and only an unreachable one)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import structlog
from shared.contracts import IncidentSeverity, ServerRead, ServerStatus
from shared.secrets import scrub

from infra_service.domain.inventory import Target, check_target
from infra_service.domain.results import RunOutcome, RunStatus, describe, tail
from infra_service.ports import Inventory, PlaybookJob, Playbooks

log = structlog.get_logger("infra_service")


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


@dataclass(frozen=True)
class Hosting:
    """Where projects live: on the `local` target, under a root of ours, run by the supervisor
    installed with us; on a server, under `remote_deploy_root`, by the system's supervisor."""

    local_deploy_root: Path
    local_supervisor_bin: Path
    remote_deploy_root: str


def host_vars(server: ServerRead, hosting: Hosting) -> dict[str, object]:
    """Where projects live on the target, and the supervisor that runs them."""
    if server.is_local:
        return {
            "deploy_root": str(hosting.local_deploy_root),
            "supervisord": str(hosting.local_supervisor_bin / "supervisord"),
            "supervisorctl": str(hosting.local_supervisor_bin / "supervisorctl"),
            "app_user": "",
        }
    return {
        "deploy_root": hosting.remote_deploy_root,
        "supervisord": "/usr/bin/supervisord",
        "supervisorctl": "/usr/bin/supervisorctl",
        "app_user": "codegen",
    }


@dataclass(frozen=True)
class Retries:
    """How often an unreachable server is tried, and the first wait (it doubles each try)."""

    attempts: int
    backoff_s: float


async def run_with_retries(
    job: PlaybookJob,
    server: ServerRead,
    *,
    playbooks: Playbooks,
    inventory: Inventory,
    retries: Retries,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> tuple[RunOutcome, int]:
    """Run the job; an unreachable server is tried again with backoff, then marked unreachable.

    A playbook that reached the server and failed is never run again here.
    """
    delay = retries.backoff_s
    for attempt in range(1, retries.attempts + 1):
        outcome = await playbooks.run(job)
        if outcome.status is not RunStatus.UNREACHABLE:
            return outcome, attempt
        last = attempt == retries.attempts
        log.warning(
            "server unreachable",
            server=server.name,
            attempt=attempt,
            of=retries.attempts,
            retry_in_s=None if last else delay,
        )
        if not last:
            await sleep(delay)
            delay *= 2
    await mark_unreachable(server, outcome, retries.attempts, job, inventory=inventory)
    return outcome, retries.attempts


async def mark_unreachable(
    server: ServerRead,
    outcome: RunOutcome,
    attempts: int,
    job: PlaybookJob,
    *,
    inventory: Inventory,
) -> None:
    """The server is marked unreachable and one incident says so (the API keeps it to one)."""
    await inventory.set_server_status(server.id, ServerStatus.UNREACHABLE)
    details = "\n\n".join(
        part
        for part in (describe(outcome, job.playbook, attempts), tail(outcome.stdout, lines=20))
        if part
    )
    await inventory.open_incident(
        server.id,
        IncidentSeverity.HIGH,
        f"Server {server.name} is unreachable",
        scrub(details, job.secret_env.values()) or "",
    )
    log.error("server marked unreachable", server=server.name, attempts=attempts)
