"""Provisioning retries: every server still waiting for its setup is asked of infra-service again
(`provisioner:queue`) once its backoff has passed, and forgotten once it no longer waits; the
results infra-service answers end a server's retries early when it is set up."""

from __future__ import annotations

import structlog
from shared.contracts import OutcomeStatus, ProvisionerMessage, ProvisionerResult, ServerStatus
from shared.streams.registry import PROVISIONER_QUEUE

from scheduler.domain.backoff import (
    Backoff,
    awaiting_setup,
    due,
    handle_of,
    in_flight,
    parse_request_id,
    request_id,
)
from scheduler.ports import Lease, ProvisioningRetries, Publisher, Servers, Summary

log = structlog.get_logger("scheduler")


async def retry_provisioning(
    lease: Lease,
    *,
    servers: Servers,
    retries: ProvisioningRetries,
    publisher: Publisher,
    backoff: Backoff,
    answer_wait_ms: int,
) -> Summary:
    waiting = requested = forgotten = 0
    for server in await servers.servers():
        state = await retries.retry_state(server.id)
        if not awaiting_setup(server, retrying=state is not None):
            if state is not None:
                lease.check()
                await retries.forget(server.id)
                forgotten += 1
            continue
        handle = handle_of(server)
        if handle is None:
            log.warning("a server's id is not a valid handle; not provisioned", server=server.name)
            continue
        waiting += 1
        now_ms = await retries.now_ms()
        if not due(state, now_ms):
            continue
        made = await retries.requests_made(server.id)
        if in_flight(
            state,
            made=made,
            answered=await retries.answered(server.id),
            now_ms=now_ms,
            backoff=backoff,
            answer_wait_ms=answer_wait_ms,
        ):
            continue
        attempts = (state[0] if state else 0) + 1
        number = made + 1
        message_id = request_id(handle, number)
        lease.check()
        # The same id after a run that died before recording it: published once, run once.
        sent = await publisher.publish_once(
            PROVISIONER_QUEUE.pattern,
            ProvisionerMessage(
                request_id=message_id, correlation_id=message_id, server_handle=handle
            ),
        )
        # The delay counts from after the request went, on Redis's clock.
        next_at_ms = await retries.now_ms() + backoff.delay_ms(attempts)
        lease.check()
        await retries.record_retry(server.id, attempts, next_at_ms)
        requested += 1
        log.info(
            "provisioning requested",
            server=server.name,
            request_id=message_id,
            attempt=attempts,
            already_sent=sent is None,
            next_in_ms=backoff.delay_ms(attempts),
        )
    return {"waiting": waiting, "requested": requested, "forgotten": forgotten}


async def handle_provisioner_result(
    result: ProvisionerResult, *, servers: Servers, retries: ProvisioningRetries
) -> None:
    """Only the answer to a server's latest request counts; a success ends its retries once the
    API says it is set up. Anything else (another's request, an older one, a forged success)
    changes nothing: the job's next run looks at the server itself anyway."""
    ours = parse_request_id(result.request_id)
    if ours is None:
        return
    server_id, number = ours
    if result.server_handle != server_id or await retries.requests_made(server_id) != number:
        log.info(
            "a provisioning result that is not the latest request's", request_id=result.request_id
        )
        return
    await retries.record_answer(server_id, number)
    if result.status is not OutcomeStatus.SUCCESS:
        log.warning(
            "provisioning failed; it is retried after its backoff",
            server_id=server_id,
            request_id=result.request_id,
            status=result.status.value,
            error=(result.error or "")[:500],
        )
        return
    server = await servers.server(server_id)
    if server is None or server.status is not ServerStatus.ACTIVE:
        return
    if await retries.retry_state(server_id) is not None:
        await retries.forget(server_id)
        log.info("server set up; its retries are forgotten", server=server.name)
