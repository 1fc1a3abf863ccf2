"""A server's health check: whether it answered (tried again like a deploy would be), and the one
result that says so."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from shared.contracts import ServerHealthCheck, ServerHealthResult
from shared.secrets import scrub

if TYPE_CHECKING:
    # Only a type here: jobs imports the ports, which import Probe from here.
    from infra_service.domain.jobs import Retries

log = structlog.get_logger("infra_service")

ERROR_CHARS = 2000


@dataclass(frozen=True)
class Probe:
    """One attempt to reach a server: it answered, or why not."""

    answered: bool
    error: str | None = None


async def probe_with_retries(
    probe: Callable[[], Awaitable[Probe]],
    retries: Retries,
    *,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> tuple[Probe, int]:
    """The first answer, or the last failure after `retries.attempts` tries (waiting
    `backoff_s`, then twice as long each time): a check says a server is gone only when a
    deploy would have given up on it too."""
    delay = retries.backoff_s
    for attempt in range(1, retries.attempts + 1):
        found = await probe()
        if found.answered or attempt == retries.attempts:
            return found, attempt
        log.info("no answer yet", attempt=attempt, of=retries.attempts, retry_in_s=delay)
        await sleep(delay)
        delay *= 2
    raise AssertionError("Retries.attempts is at least 1")


def health_result(
    message: ServerHealthCheck,
    server_id: str,
    probe: Probe,
    checked_at: datetime,
    *,
    attempts: int = 1,
    secrets: Iterable[str] = (),
) -> ServerHealthResult:
    """The check's one result, repeating its ids; its error scrubbed of the check's secrets."""
    error = None
    if not probe.answered:
        why = probe.error or "no answer"
        error = why if attempts == 1 else f"no answer after {attempts} attempts: {why}"
        error = (scrub(error, secrets) or "")[:ERROR_CHARS]
    return ServerHealthResult(
        request_id=message.request_id,
        correlation_id=message.correlation_id,
        server_id=server_id,
        reachable=probe.answered,
        error=error,
        checked_at=checked_at,
    )
