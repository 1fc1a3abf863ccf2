"""The single result listener: scaffolder:results, worker:responses:developer,
worker:developer:output and deploy:results. A result resumes the thread that waits for exactly
its request_id; any other (a duplicate, a late result of an earlier attempt, one nobody asked
for) is logged and acknowledged, and changes nothing — except a worker that came to life after
its flow stopped waiting for it (cancelled, timed out): that one is deleted, or it would live on
with nobody to end it."""

from __future__ import annotations

import structlog
from shared.contracts import (
    AnsibleDeployResult,
    DeleteWorkerCommand,
    DeveloperWorkerOutput,
    ScaffolderResult,
    WorkerResponse,
    WorkerType,
)
from shared.streams.registry import WORKER_COMMANDS

from langgraph_service.domain.ids import is_create, request_id, thread_of
from langgraph_service.domain.waits import with_result
from langgraph_service.flows.runner import FlowRunner
from langgraph_service.ports import Publisher

log = structlog.get_logger("langgraph_service")

Result = ScaffolderResult | WorkerResponse | DeveloperWorkerOutput | AnsibleDeployResult


async def handle_result(
    result: Result, *, runner: FlowRunner, publisher: Publisher, stream: str
) -> None:
    thread_id = thread_of(result.request_id)
    resumed = await runner.deliver(
        thread_id, result.request_id, with_result(result.model_dump(mode="json"))
    )
    if resumed:
        log.info("flow resumed", stream=stream, request_id=result.request_id)
        return
    log.info(
        "result nobody waits for; acknowledged",
        stream=stream,
        request_id=result.request_id,
        type=type(result).__name__,
    )
    created = _created_worker(result)
    if created is not None and created not in await runner.workers_of(thread_id):
        await _delete_orphan(result, created, thread_id, publisher)


def _created_worker(result: Result) -> str | None:
    """The worker a create result brought to life, if it is one."""
    if (
        isinstance(result, WorkerResponse)
        and result.command == "create"
        and result.success
        and is_create(result.request_id)
    ):
        return result.worker_id
    return None


async def _delete_orphan(
    result: Result, worker_id: str, thread_id: str, publisher: Publisher
) -> None:
    log.warning("deleting a worker its flow no longer waits for", worker_id=worker_id,
                request_id=result.request_id)  # fmt: skip
    await publisher.publish_once(
        WORKER_COMMANDS.pattern,
        DeleteWorkerCommand(
            request_id=request_id(thread_id, "delete", worker_id),
            correlation_id=result.correlation_id,
            worker_id=worker_id,
            reply_to=WorkerType.DEVELOPER,
        ),
    )
