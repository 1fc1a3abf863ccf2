"""provisioner:queue: set a server up, reported on provisioner:results."""

from __future__ import annotations

import asyncio

import structlog
from shared.contracts import (
    IncidentSeverity,
    OutcomeStatus,
    ProvisionerMessage,
    ProvisionerResult,
    ServerStatus,
)
from shared.streams.registry import PROVISIONER_RESULTS

from infra_service.bootstrap import Container
from infra_service.domain.inventory import InvalidTarget
from infra_service.domain.playbooks import Action, select_playbook
from infra_service.domain.results import Failure, RunStatus, describe, provision_result, tail
from infra_service.domain.secrets import SecretUnavailable, scrub
from infra_service.handlers.jobs import answer_once, host_vars, run_with_retries, target_of
from infra_service.ports import PlaybookJob

log = structlog.get_logger("infra_service")


async def handle_provision(message: ProvisionerMessage, *, deps: Container) -> None:
    await answer_once(
        "infra-provision",
        message.request_id,
        PROVISIONER_RESULTS.pattern,
        ProvisionerResult,
        lambda: provision_server(message, deps=deps),
        refused=lambda error: provision_result(message, Failure(OutcomeStatus.ERROR, error)),
        deps=deps,
    )


async def provision_server(message: ProvisionerMessage, *, deps: Container) -> ProvisionerResult:
    server = await deps.inventory.server(message.server_handle)
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
    except InvalidTarget as exc:
        return provision_result(
            message, Failure(OutcomeStatus.ERROR, str(exc)), server_ip=server.address
        )
    try:
        ssh_key = (
            await asyncio.to_thread(deps.secrets.resolve, server.ssh_key_ref)
            if server.ssh_key_ref and not server.is_local
            else None
        )
    except SecretUnavailable as exc:
        return provision_result(
            message, Failure(OutcomeStatus.ERROR, str(exc)), server_ip=server.address
        )
    settings = deps.settings
    job = PlaybookJob(
        playbook=select_playbook(Action.PROVISION, is_local=server.is_local),
        target=target,
        extravars={
            **host_vars(server, deps),
            "vm_steps_check_mode": settings.vm_steps_check_mode,
            "ssh_port": server.ssh_port,
            "app_ports": settings.app_ports,
            "report_programs": message.is_recovery,
        },
        ssh_key=ssh_key,
    )
    if server.status is not ServerStatus.PENDING_SETUP:
        await deps.inventory.set_server_status(server.id, ServerStatus.PENDING_SETUP)
    lock = deps.redis.lock(
        f"infra:provision-lock:{server.id}",
        timeout=settings.job_timeout_s + 120,
        blocking_timeout=settings.job_timeout_s,
    )
    async with lock:
        outcome, attempts = await run_with_retries(job, server, deps)
    secrets = [ssh_key] if ssh_key else []
    if outcome.succeeded:
        await deps.inventory.set_server_status(server.id, ServerStatus.ACTIVE)
    elif outcome.status is not RunStatus.UNREACHABLE:
        details = f"{describe(outcome, job.playbook, attempts)}\n\n{tail(outcome.stdout, lines=20)}"
        await deps.inventory.open_incident(
            server.id,
            IncidentSeverity.MEDIUM,
            f"Setup of server {server.name} failed",
            scrub(details, secrets) or "",
        )
    log.info(
        "provisioning finished",
        server=server.name,
        playbook=job.playbook,
        status=outcome.status.value,
        changed=outcome.changed,
        attempts=attempts,
    )
    result = provision_result(
        message,
        outcome,
        playbook=job.playbook,
        attempts=attempts,
        server_ip=server.address,
        secrets=secrets,
    )
    if message.is_recovery and outcome.succeeded:
        programs = int(outcome.facts.get("programs", "0"))
        result = result.model_copy(update={"services_redeployed": programs})
    return result
