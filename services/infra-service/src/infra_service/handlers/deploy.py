"""ansible:deploy:queue: one commit of one project onto one server, reported on deploy:results."""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from shared.contracts import (
    PROJECT_FILE,
    AnsibleDeployMessage,
    AnsibleDeployResult,
    ProjectFile,
    ProjectFileError,
    ServerRead,
    ServerStatus,
)
from shared.secrets import SecretUnavailable
from shared.streams.registry import DEPLOY_RESULTS

from infra_service.domain.answers import answer_once
from infra_service.domain.inventory import InvalidTarget
from infra_service.domain.jobs import Hosting, Retries, host_vars, run_with_retries, target_of
from infra_service.domain.playbooks import Action, select_playbook
from infra_service.domain.project_file import deployed, read_project_file
from infra_service.domain.results import DeployReport, RunStatus, deploy_result
from infra_service.domain.secrets import parse_app_secrets
from infra_service.domain.sources import (
    InvalidSource,
    SourceUnavailable,
    check_commit,
    check_project_name,
    repository_url,
)
from infra_service.ports import (
    Idempotency,
    Inventory,
    InventoryRefused,
    JobLocks,
    PlaybookJob,
    Playbooks,
    Publisher,
    ResultStore,
    Secrets,
    Sources,
)

log = structlog.get_logger("infra_service")

SCOPE = "infra-deploy"


@dataclass(frozen=True)
class DeployOptions:
    """What every deploy is given besides its message."""

    forge_url: str
    jobs_dir: Path
    hosting: Hosting
    retries: Retries
    releases_kept: int
    health_timeout_s: int


async def handle_deploy(
    message: AnsibleDeployMessage,
    *,
    inventory: Inventory,
    secrets: Secrets,
    sources: Sources,
    playbooks: Playbooks,
    locks: JobLocks,
    idempotency: Idempotency,
    results: ResultStore,
    publisher: Publisher,
    options: DeployOptions,
) -> None:
    async def produce() -> AnsibleDeployResult:
        report = await deploy_project(
            message,
            inventory=inventory,
            secrets=secrets,
            sources=sources,
            playbooks=playbooks,
            locks=locks,
            options=options,
        )
        return deploy_result(message, report)

    await answer_once(
        SCOPE,
        message.request_id,
        DEPLOY_RESULTS.pattern,
        AnsibleDeployResult,
        produce,
        refused=lambda error: deploy_result(message, DeployReport.refused(error)),
        idempotency=idempotency,
        results=results,
        publisher=publisher,
    )


@dataclass(frozen=True)
class DeploySecrets:
    token: str | None
    app: dict[str, str]
    ssh_key: str | None

    @property
    def values(self) -> list[str]:
        return [v for v in (self.token, self.ssh_key, *self.app.values()) if v]


async def deploy_project(
    message: AnsibleDeployMessage,
    *,
    inventory: Inventory,
    secrets: Secrets,
    sources: Sources,
    playbooks: Playbooks,
    locks: JobLocks,
    options: DeployOptions,
) -> DeployReport:
    """How the deploy ended; what the API refuses on the way raises InventoryRefused."""
    try:
        # The contract checks these too; here they are checked again, as git and Ansible see them.
        repo_url = repository_url(message.repo_full_name, options.forge_url)
        commit_sha = check_commit(message.commit_sha)
        check_project_name(message.project_name)
    except InvalidSource as exc:
        return DeployReport.refused(str(exc))
    server = await inventory.server(message.server)
    if server is None:
        return DeployReport.refused(f"server {message.server!r} is not registered")
    refusal = await _refusal(message, inventory)
    if refusal is not None:
        return DeployReport.refused(refusal, server_ip=server.address)
    try:
        # A `file:` reference is read from disk: off the event loop, like every file operation.
        resolved = await asyncio.to_thread(_resolve, message, server, secrets)
    except SecretUnavailable as exc:
        return DeployReport.refused(str(exc), server_ip=server.address)
    async with locks.deploy(server.id, message.project_id):
        workdir = await asyncio.to_thread(_make_workdir, options.jobs_dir)
        try:
            archive = await sources.archive(
                repo_url, commit_sha, workdir / "source", resolved.token
            )
            spec = read_project_file(await sources.read_file(archive, PROJECT_FILE))
            # Every port the services listen on is allocated to this project on this server
            # before anything runs there: the API refuses a port that belongs to another.
            services = await _services(message, server, spec, inventory)
            commit = archive.name.removesuffix(".tar.gz")
            job = PlaybookJob(
                playbook=select_playbook(Action.DEPLOY, is_local=server.is_local),
                target=target_of(server),
                extravars={
                    **host_vars(server, options.hosting),
                    "project_name": message.project_name,
                    "commit": commit,
                    "source_archive": str(archive),
                    "services": services,
                    "releases_kept": options.releases_kept,
                    "health_timeout_s": options.health_timeout_s,
                },
                secret_env=(
                    {"CODEGEN_APP_SECRETS": json.dumps(resolved.app)} if resolved.app else {}
                ),
                ssh_key=resolved.ssh_key,
            )
            outcome, attempts = await run_with_retries(
                job, server, playbooks=playbooks, inventory=inventory, retries=options.retries
            )
        except (SourceUnavailable, ProjectFileError, InventoryRefused, InvalidTarget) as exc:
            return DeployReport.refused(str(exc), server_ip=server.address, secrets=resolved.values)
        finally:
            # A checkout holds thousands of files in a real project: never removed on the loop.
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    url = f"http://{server.address}:{message.port}"
    not_recorded = None
    # An unreachable server may still run the previous release: its records stay as they are.
    if outcome.status is not RunStatus.UNREACHABLE:
        try:
            await _record(
                message, server, services, spec, commit, url, outcome.succeeded, inventory
            )
        except InventoryRefused as exc:
            not_recorded = str(exc)
            log.error("deploy not recorded", project=message.project_name, error=str(exc))
    log.info(
        "deploy finished",
        project=message.project_name,
        commit=commit,
        status=outcome.status.value,
        changed=outcome.changed,
        attempts=attempts,
    )
    return DeployReport(
        outcome,
        server_ip=server.address,
        secrets=tuple(resolved.values),
        playbook=job.playbook,
        attempts=attempts,
        url=url,
        health_path=spec.services[spec.entry_point].health,
        not_recorded=not_recorded,
    )


async def _refusal(message: AnsibleDeployMessage, inventory: Inventory) -> str | None:
    """Why the API's records forbid this deploy, if they do."""
    project = await inventory.project(message.project_id)
    if project is None:
        return f"project {message.project_id!r} is not known"
    if project.name != message.project_name:
        return (
            f"project {message.project_id!r} is named {project.name!r}, "
            f"not {message.project_name!r}"
        )
    return None


async def _record(
    message: AnsibleDeployMessage,
    server: ServerRead,
    services: list[dict[str, Any]],
    spec: ProjectFile,
    commit: str,
    url: str,
    running: bool,
    inventory: Inventory,
) -> None:
    for service in services:
        await inventory.record_deployment(
            project_id=message.project_id,
            server_id=server.id,
            service_name=service["name"],
            port=service["port"],
            commit_sha=commit,
            url=url if service["name"] == spec.entry_point else None,
            running=running,
        )
    if server.status is ServerStatus.UNREACHABLE:
        await inventory.set_server_status(server.id, ServerStatus.ACTIVE)


def _make_workdir(jobs_dir: Path) -> Path:
    jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Path(tempfile.mkdtemp(prefix="source-", dir=jobs_dir))


def _resolve(message: AnsibleDeployMessage, server: ServerRead, secrets: Secrets) -> DeploySecrets:
    resolve = secrets.resolve
    return DeploySecrets(
        token=resolve(message.github_token_ref) if message.github_token_ref else None,
        app=(
            parse_app_secrets(resolve(message.secrets_ref), message.secrets_ref)
            if message.secrets_ref
            else {}
        ),
        ssh_key=resolve(server.ssh_key_ref) if server.ssh_key_ref and not server.is_local else None,
    )


async def _services(
    message: AnsibleDeployMessage, server: ServerRead, spec: ProjectFile, inventory: Inventory
) -> list[dict[str, Any]]:
    """What the playbook runs: each service with its port (the entry point gets the project's).

    Allocations are keyed by (server, project, name). The project's port — the message's
    `port` — is the caller's allocation, made before the deploy under the project's name: the
    entry point takes it under that same key, which the API answers idempotently with that port
    (asking for it under the entry point's own name would be refused, the port being taken).
    Every other service has its port under its own name. A non-entry service named like the
    project would share the entry point's key, so its deploy is refused before any allocation.
    The names the services run and are recorded under are the project file's either way.
    """
    entry_point = spec.entry_point
    if message.project_name != entry_point and message.project_name in spec.services:
        raise ProjectFileError(
            f"service {message.project_name!r} is named like the project but is not its entry "
            f"point ({entry_point!r}): rename it in {PROJECT_FILE}"
        )
    services = []
    for name, declared in spec.services.items():
        if name == entry_point:
            port = await inventory.port_for(
                server.id, message.project_id, message.project_name, port=message.port
            )
        else:
            port = await inventory.port_for(server.id, message.project_id, name)
        services.append({"name": name, "port": port, **deployed(declared)})
    return services
