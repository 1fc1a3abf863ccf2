"""How a playbook run ended, and the result messages that report it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from shared.contracts import (
    AnsibleDeployMessage,
    AnsibleDeployResult,
    OutcomeStatus,
    ProvisionerMessage,
    ProvisionerResult,
)
from shared.secrets import scrub

TAIL_LINES = 40
TAIL_CHARS = 4000
UNREACHABLE_EXIT_CODE = 4


class RunStatus(StrEnum):
    SUCCESSFUL = "successful"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    TIMEOUT = "timeout"
    CANCELED = "canceled"


@dataclass(frozen=True)
class RunOutcome:
    """One ansible-runner run, as much as a result needs to tell."""

    status: RunStatus
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
    failures: tuple[str, ...] = ()
    changed: int = 0
    facts: dict[str, str] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status is RunStatus.SUCCESSFUL


@dataclass(frozen=True)
class Failure:
    """Work that stopped before or outside a playbook run (bad input, missing secret...)."""

    status: OutcomeStatus
    error: str


def health_url(url: str, path: str) -> str:
    """The URL a service's health path answers on: `url` joined with `path`, one slash between."""
    return f"{url.rstrip('/')}/{path.lstrip('/')}"


def tail(text: str, lines: int = TAIL_LINES, chars: int = TAIL_CHARS) -> str:
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]


def describe(outcome: RunOutcome, playbook: str, attempts: int) -> str:
    if outcome.status is RunStatus.UNREACHABLE:
        what = f"the server was unreachable after {attempts} attempts"
    elif outcome.status is RunStatus.TIMEOUT:
        what = f"{playbook} ran out of time"
    elif outcome.status is RunStatus.CANCELED:
        what = f"{playbook} was cancelled (infra-service is stopping)"
    else:
        what = f"{playbook} failed with exit code {outcome.exit_code}"
    if outcome.failures:
        what += ": " + "; ".join(outcome.failures[-3:])
    return what


def _status(outcome: RunOutcome) -> OutcomeStatus:
    if outcome.succeeded:
        return OutcomeStatus.SUCCESS
    if outcome.status is RunStatus.TIMEOUT:
        return OutcomeStatus.TIMEOUT
    return OutcomeStatus.FAILED


@dataclass(frozen=True)
class DeployReport:
    """How a deploy ended: the playbook's run, or why nothing ran (a `Failure`), with what the
    result tells beside it. `secrets` are the values its texts must not carry; `url`, where the
    entry point answers, and `health_path`, its health path (`.project.yml`); `not_recorded`, the
    API's refusal of the deploy's record (the target changed and the API does not say so)."""

    outcome: RunOutcome | Failure
    server_ip: str | None = None
    secrets: tuple[str, ...] = ()
    playbook: str = "deploy_project.yml"
    attempts: int = 1
    url: str | None = None
    health_path: str | None = None
    not_recorded: str | None = None

    @classmethod
    def refused(
        cls, error: str, *, server_ip: str | None = None, secrets: Iterable[str] = ()
    ) -> DeployReport:
        """Nothing ran: the request, the records or the sources forbid it."""
        return cls(Failure(OutcomeStatus.ERROR, error), server_ip=server_ip, secrets=tuple(secrets))


def deploy_result(message: AnsibleDeployMessage, report: DeployReport) -> AnsibleDeployResult:
    """The one result of a deploy, its texts scrubbed of the deploy's secrets. It repeats the
    request's ids (the requester's wait is matched by request_id). The health URL is told
    whenever the deploy knows it, an unhealthy release's too (the caller's smoke check)."""
    outcome, secrets = report.outcome, report.secrets
    common = {
        "request_id": message.request_id,
        "correlation_id": message.correlation_id,
        "task_id": message.task_id,
        "project_id": message.project_id,
        "server_ip": report.server_ip,
        "port": message.port,
    }
    if isinstance(outcome, Failure):
        return AnsibleDeployResult(
            **common, status=outcome.status, error=scrub(outcome.error, secrets)
        )
    succeeded = outcome.succeeded
    status, error = _status(outcome), None
    if not succeeded:
        error = describe(outcome, report.playbook, report.attempts)
    if report.not_recorded is not None:
        # The requester must know: what runs on the target is not what the API says.
        status = OutcomeStatus.ERROR
        error = (
            f"the deploy ran ({outcome.status.value}) but was not recorded: {report.not_recorded}"
        )
    return AnsibleDeployResult(
        **common,
        status=status,
        error=scrub(error, secrets),
        deployed_url=report.url if succeeded else None,
        health_url=(
            health_url(report.url, report.health_path)
            if report.url is not None and report.health_path is not None
            else None
        ),
        exit_code=outcome.exit_code,
        stdout_tail=None if succeeded else scrub(tail(outcome.stdout), secrets),
        stderr_tail=None if succeeded else scrub(tail(outcome.stderr), secrets),
    )


def provision_result(
    message: ProvisionerMessage,
    outcome: RunOutcome | Failure | None,
    *,
    playbook: str = "setup_server.yml",
    attempts: int = 1,
    server_ip: str | None = None,
    secrets: Iterable[str] = (),
) -> ProvisionerResult:
    """`outcome` None: the server was already set up and nothing had to run. The result repeats
    the request's ids."""
    common = {
        "request_id": message.request_id,
        "correlation_id": message.correlation_id,
        "server_handle": message.server_handle,
        "server_ip": server_ip,
    }
    if outcome is None:
        return ProvisionerResult(**common, status=OutcomeStatus.SUCCESS)
    if isinstance(outcome, Failure):
        error = scrub(outcome.error, secrets)
        return ProvisionerResult(**common, status=outcome.status, error=error, errors=[error or ""])
    if outcome.succeeded:
        # A recovery reports how many programs the server runs again.
        redeployed = int(outcome.facts.get("programs", "0")) if message.is_recovery else 0
        return ProvisionerResult(
            **common, status=OutcomeStatus.SUCCESS, services_redeployed=redeployed
        )
    error = scrub(describe(outcome, playbook, attempts), secrets)
    return ProvisionerResult(
        **common,
        status=_status(outcome),
        error=error,
        errors=[scrub(failure, secrets) or "" for failure in outcome.failures] or [error or ""],
    )
