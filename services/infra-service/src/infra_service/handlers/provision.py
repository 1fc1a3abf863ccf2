"""provisioner:queue: set a server up, reported on provisioner:results."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog
from shared.contracts import (
    IncidentSeverity,
    OutcomeStatus,
    ProvisionerMessage,
    ProvisionerResult,
    ServerStatus,
)
from shared.secrets import SecretUnavailable, scrub
from shared.streams.registry import PROVISIONER_RESULTS

from infra_service.domain.answers import answer_once
from infra_service.domain.inventory import InvalidTarget
from infra_service.domain.jobs import Hosting, Retries, host_vars, run_with_retries, target_of
from infra_service.domain.playbooks import Action, select_playbook
from infra_service.domain.results import Failure, RunStatus, describe, provision_result, tail
from infra_service.ports import (
    Idempotency,
    Inventory,
    JobLocks,
    PlaybookJob,
    Playbooks,
    Publisher,
    ResultStore,
    Secrets,
)

log = structlog.get_logger("infra_service")

SCOPE = "infra-provision"


@dataclass(frozen=True)
class ProvisionOptions:
    """What every setup is given besides its message."""

    hosting: Hosting
    retries: Retries
    app_ports: str
    vm_steps_check_mode: bool


async def handle_provision(
    message: ProvisionerMessage,
    *,
    inventory: Inventory,
    secrets: Secrets,
    playbooks: Playbooks,
    locks: JobLocks,
    idempotency: Idempotency,
    results: ResultStore,
    publisher: Publisher,
    options: ProvisionOptions,
) -> None:
    await answer_once(
        SCOPE,
        message.request_id,
        PROVISIONER_RESULTS.pattern,
        ProvisionerResult,
        lambda: provision_server(
            message,
            inventory=inventory,
            secrets=secrets,
            playbooks=playbooks,
            locks=locks,
            options=options,
        ),
        refused=lambda error: provision_result(message, Failure(OutcomeStatus.ERROR, error)),
        idempotency=idempotency,
        results=results,
        publisher=publisher,
    )


async def provision_server(
    message: ProvisionerMessage,
    *,
    inventory: Inventory,
    secrets: Secrets,
    playbooks: Playbooks,
    locks: JobLocks,
    options: ProvisionOptions,
) -> ProvisionerResult:
    server = await inventory.server(message.server_handle)
    if server is None:
        error = f"server {message.server_handle!r} is not registered"
        return provision_result(message, Failure(OutcomeStatus.ERROR, error))
    if (
        server.status is ServerStatus.ACTIVE
        and not message.force_reinstall
        and not message.is_recovery
    ):
        return provision_result(message, None, server_ip=server.address)
    try:
        target = target_of(server)
        ssh_key = (
            await asyncio.to_thread(secrets.resolve, server.ssh_key_ref)
            if server.ssh_key_ref and not server.is_local
            else None
        )
    except (InvalidTarget, SecretUnavailable) as exc:
        return provision_result(
            message, Failure(OutcomeStatus.ERROR, str(exc)), server_ip=server.address
        )
    job = PlaybookJob(
        playbook=select_playbook(Action.PROVISION, is_local=server.is_local),
        target=target,
        extravars={
            **host_vars(server, options.hosting),
            "vm_steps_check_mode": options.vm_steps_check_mode,
            "ssh_port": server.ssh_port,
            "app_ports": options.app_ports,
            "report_programs": message.is_recovery,
        },
        ssh_key=ssh_key,
    )
    if server.status is not ServerStatus.PENDING_SETUP:
        await inventory.set_server_status(server.id, ServerStatus.PENDING_SETUP)
    async with locks.provision(server.id):
        outcome, attempts = await run_with_retries(
            job, server, playbooks=playbooks, inventory=inventory, retries=options.retries
        )
    secret_values = [ssh_key] if ssh_key else []
    if outcome.succeeded:
        await inventory.set_server_status(server.id, ServerStatus.ACTIVE)
    elif outcome.status is not RunStatus.UNREACHABLE:
        details = f"{describe(outcome, job.playbook, attempts)}\n\n{tail(outcome.stdout, lines=20)}"
        await inventory.open_incident(
            server.id,
            IncidentSeverity.MEDIUM,
            f"Setup of server {server.name} failed",
            scrub(details, secret_values) or "",
        )
    log.info(
        "provisioning finished",
        server=server.name,
        playbook=job.playbook,
        status=outcome.status.value,
        changed=outcome.changed,
        attempts=attempts,
    )
    return provision_result(
        message,
        outcome,
        playbook=job.playbook,
        attempts=attempts,
        server_ip=server.address,
        secrets=secret_values,
    )
