"""The single result listener: scaffolder:results, worker:responses:developer,
worker:developer:output and deploy:results. A result resumes the thread that waits for exactly
its request_id; any other (a duplicate, a late result of an earlier attempt, one nobody asked
for) is logged and acknowledged, and changes nothing."""

from __future__ import annotations

import structlog
from shared.contracts import (
    AnsibleDeployResult,
    DeveloperWorkerOutput,
    ScaffolderResult,
    WorkerResponse,
)

from langgraph_service.domain.ids import thread_of
from langgraph_service.domain.waits import with_result
from langgraph_service.flows.runner import FlowRunner

log = structlog.get_logger("langgraph_service")

Result = ScaffolderResult | WorkerResponse | DeveloperWorkerOutput | AnsibleDeployResult


async def handle_result(result: Result, *, runner: FlowRunner, stream: str) -> None:
    thread_id = thread_of(result.request_id)
    resumed = await runner.deliver(
        thread_id, result.request_id, with_result(result.model_dump(mode="json"))
    )
    if resumed:
        log.info("flow resumed", stream=stream, request_id=result.request_id)
    else:
        log.info(
            "result nobody waits for; acknowledged",
            stream=stream,
            request_id=result.request_id,
            type=type(result).__name__,
        )
