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
    AnsibleDeployMessage,
    AnsibleDeployResult,
    OutcomeStatus,
    ServerRead,
    ServerStatus,
)
from shared.streams.registry import DEPLOY_RESULTS

from infra_service.bootstrap import Container
from infra_service.domain.inventory import InvalidTarget
from infra_service.domain.playbooks import Action, select_playbook
from infra_service.domain.project_file import (
    PROJECT_FILE,
    ProjectFileError,
    ProjectSpec,
    parse_project_file,
)
from infra_service.domain.results import Failure, RunOutcome, RunStatus, deploy_result
from infra_service.domain.secrets import SecretUnavailable, parse_app_secrets, scrub
from infra_service.domain.sources import (
    InvalidSource,
    SourceUnavailable,
    check_commit,
    check_project_name,
    repository_url,
)
from infra_service.handlers.jobs import answer_once, host_vars, run_with_retries, target_of
from infra_service.ports import InventoryRefused, PlaybookJob

log = structlog.get_logger("infra_service")


async def handle_deploy(message: AnsibleDeployMessage, *, deps: Container) -> None:
    await answer_once(
        "infra-deploy",
        message.request_id,
        DEPLOY_RESULTS.pattern,
        AnsibleDeployResult,
        lambda: deploy_project(message, deps=deps),
        refused=lambda error: deploy_result(message, Failure(OutcomeStatus.ERROR, error)),
        deps=deps,
    )


@dataclass(frozen=True)
class DeploySecrets:
    token: str | None
    app: dict[str, str]
    ssh_key: str | None

    @property
    def values(self) -> list[str]:
        return [v for v in (self.token, self.ssh_key, *self.app.values()) if v]


async def deploy_project(message: AnsibleDeployMessage, *, deps: Container) -> AnsibleDeployResult:
    try:
        # The contract checks these too; here they are checked again, as git and Ansible see them.
        repo_url = repository_url(message.repo_full_name, deps.settings.forge_url)
        commit_sha = check_commit(message.commit_sha)
        check_project_name(message.project_name)
    except InvalidSource as exc:
        return deploy_result(message, Failure(OutcomeStatus.ERROR, str(exc)))
    server = await deps.inventory.server(message.server)
    if server is None:
        error = f"server {message.server!r} is not registered"
        return deploy_result(message, Failure(OutcomeStatus.ERROR, error))
    refusal = await _refusal(message, deps)
    if refusal is not None:
        return deploy_result(
            message, Failure(OutcomeStatus.ERROR, refusal), server_ip=server.address
        )
    try:
        # A `file:` reference is read from disk: off the event loop, like every file operation.
        secrets = await asyncio.to_thread(_resolve, message, server, deps)
    except SecretUnavailable as exc:
        failure = Failure(OutcomeStatus.ERROR, str(exc))
        return deploy_result(message, failure, server_ip=server.address)
    settings = deps.settings
    lock = deps.redis.lock(
        f"infra:deploy-lock:{server.id}:{message.project_id}",
        timeout=settings.job_timeout_s + 120,
        blocking_timeout=settings.job_timeout_s,
    )
    async with lock:
        workdir = await asyncio.to_thread(_make_workdir, deps.jobs_dir)
        try:
            archive = await deps.sources.archive(
                repo_url,
                commit_sha,
                workdir / "source",
                secrets.token,
            )
            text = await deps.sources.read_file(archive, PROJECT_FILE)
            if text is None:
                raise ProjectFileError(f"the repository has no {PROJECT_FILE} at this commit")
            spec = parse_project_file(text)
            # Every port the services listen on is allocated to this project on this server
            # before anything runs there: the API refuses a port that belongs to another.
            services = await _services(message, server, spec, deps)
            commit = archive.name.removesuffix(".tar.gz")
            job = PlaybookJob(
                playbook=select_playbook(Action.DEPLOY, is_local=server.is_local),
                target=target_of(server),
                extravars={
                    **host_vars(server, deps),
                    "project_name": message.project_name,
                    "commit": commit,
                    "source_archive": str(archive),
                    "services": services,
                    "releases_kept": settings.releases_kept,
                    "health_timeout_s": settings.health_timeout_s,
                },
                secret_env={"CODEGEN_APP_SECRETS": json.dumps(secrets.app)} if secrets.app else {},
                ssh_key=secrets.ssh_key,
            )
            outcome, attempts = await run_with_retries(job, server, deps)
        except (SourceUnavailable, ProjectFileError, InventoryRefused, InvalidTarget) as exc:
            failure = Failure(OutcomeStatus.ERROR, str(exc))
            return deploy_result(message, failure, server_ip=server.address, secrets=secrets.values)
        finally:
            # A checkout holds thousands of files in a real project: never removed on the loop.
            await asyncio.to_thread(shutil.rmtree, workdir, True)

    url = f"http://{server.address}:{message.port}"
    not_recorded = None
    try:
        await _record(message, server, services, spec, commit, url, outcome, deps)
    except InventoryRefused as exc:
        # The target changed and the API would not say so: the requester must know.
        not_recorded = f"the deploy ran ({outcome.status.value}) but was not recorded: {exc}"
        log.error("deploy not recorded", project=message.project_name, error=str(exc))
    log.info(
        "deploy finished",
        project=message.project_name,
        commit=commit,
        status=outcome.status.value,
        changed=outcome.changed,
        attempts=attempts,
    )
    result = deploy_result(
        message,
        outcome,
        playbook=job.playbook,
        attempts=attempts,
        url=url,
        server_ip=server.address,
        secrets=secrets.values,
    )
    if not_recorded is not None:
        recorded_error = scrub(not_recorded, secrets.values)
        result = result.model_copy(update={"status": OutcomeStatus.ERROR, "error": recorded_error})
    return result


async def _refusal(message: AnsibleDeployMessage, deps: Container) -> str | None:
    """Why the API's records forbid this deploy, if they do."""
    project = await deps.inventory.project(message.project_id)
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
    spec: ProjectSpec,
    commit: str,
    url: str,
    outcome: RunOutcome,
    deps: Container,
) -> None:
    # An unreachable server may still run the previous release: its records stay as they are.
    if outcome.status is RunStatus.UNREACHABLE:
        return
    for service in services:
        await deps.inventory.record_deployment(
            project_id=message.project_id,
            server_id=server.id,
            service_name=service["name"],
            port=service["port"],
            commit_sha=commit,
            url=url if service["name"] == spec.entry_point else None,
            running=outcome.succeeded,
        )
    if server.status is ServerStatus.UNREACHABLE:
        await deps.inventory.set_server_status(server.id, ServerStatus.ACTIVE)


def _make_workdir(jobs_dir: Path) -> Path:
    jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    return Path(tempfile.mkdtemp(prefix="source-", dir=jobs_dir))


def _resolve(message: AnsibleDeployMessage, server: ServerRead, deps: Container) -> DeploySecrets:
    resolve = deps.secrets.resolve
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
    message: AnsibleDeployMessage, server: ServerRead, spec: ProjectSpec, deps: Container
) -> list[dict[str, Any]]:
    """What the playbook runs: each service with its port (the entry point gets the project's)."""
    services = []
    for name, declared in spec.services.items():
        port = await deps.inventory.port_for(
            server.id,
            message.project_id,
            name,
            port=message.port if name == spec.entry_point else None,
        )
        services.append({"name": name, "port": port, **declared.model_dump()})
    return services
