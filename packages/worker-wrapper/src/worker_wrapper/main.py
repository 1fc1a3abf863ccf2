"""`worker-wrapper`: the entry point of every worker."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import structlog
from shared.contracts import DeveloperWorkerInput, LifecycleEventKind, POWorkerInput, WorkerType
from shared.logging import configure_logging
from shared.streams import ConsumerOptions, StreamConsumer
from shared.streams.registry import DEVELOPER_INPUT, DEVELOPER_OUTPUT, PO_INPUT, PO_OUTPUT

from worker_wrapper.bootstrap import Container, bootstrap
from worker_wrapper.config import WrapperSettings
from worker_wrapper.handlers import developer, po

log = structlog.get_logger("worker_wrapper")

EXIT_STOPPED = 143


async def serve(container: Container) -> int:
    """Run the worker until its work is done or it is stopped; returns the exit code."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, container.stop.set)
    heartbeat = asyncio.create_task(container.reporter.beat_forever())
    reporter, settings = container.reporter, container.settings
    try:
        await reporter.lifecycle(LifecycleEventKind.STARTED)
        if settings.worker_type is WorkerType.DEVELOPER:
            return await _developer(container)
        return await _po(container)
    except Exception as exc:
        log.exception("worker failed")
        await reporter.lifecycle(
            LifecycleEventKind.FAILED, exit_code=1, error=f"{type(exc).__name__}: {exc}"
        )
        return 1
    finally:
        heartbeat.cancel()
        await reporter.clear_heartbeat()
        await container.redis.aclose()


async def _consume_until_stopped(container: Container, consumer: StreamConsumer) -> None:
    async def watch_stop() -> None:
        await container.stop.wait()
        consumer.stop()

    watcher = asyncio.create_task(watch_stop())
    try:
        await consumer.run()
    finally:
        watcher.cancel()


async def _developer(container: Container) -> int:
    settings, reporter = container.settings, container.reporter
    outcome: dict[str, int] = {}

    async def handle(task: DeveloperWorkerInput) -> None:
        await reporter.set_state(
            {"state": "busy", "task_id": task.task_id, "request_id": task.request_id}
        )
        try:
            output = await developer.run_task(
                task,
                worker_id=settings.worker_id,
                agent=container.agent,
                git=container.git,
                workspace=Path(settings.workspace_dir),
                instructions=settings.instructions,
                extra_env=container.extra_env,
            )
        except developer.Stopped:
            output = developer.stopped_output(task, settings.worker_id)
            outcome["stopped"] = 1
        await reporter.publish(DEVELOPER_OUTPUT.pattern, output)
        outcome["code"] = 0 if output.status == "success" else 1
        outcome["task"] = 1
        await reporter.set_state(
            {"state": "done", "task_id": task.task_id, "status": str(output.status)}
        )
        consumer.stop()
        if "stopped" not in outcome:
            event = (
                LifecycleEventKind.COMPLETED if outcome["code"] == 0 else LifecycleEventKind.FAILED
            )
            await reporter.lifecycle(
                event,
                task_id=task.task_id,
                exit_code=outcome["code"],
                error=output.error,
                correlation_id=task.correlation_id,
                result={"status": str(output.status), "commit_sha": output.commit_sha},
            )

    # One task, then exit: a batch of one, and no reclaiming of other workers' entries while the
    # worker-manager reports their deaths (the single listener decides on retries).
    consumer = StreamConsumer(
        container.redis,
        stream=DEVELOPER_INPUT.pattern,
        group="developer-workers",
        consumer=settings.worker_id,
        handler=handle,
        options=ConsumerOptions(
            batch_size=1,
            claim_idle_ms=int(settings.agent_timeout_s * 2000),
            claim_interval_s=settings.agent_timeout_s,
        ),
    )
    await _consume_until_stopped(container, consumer)
    if container.stop.is_set():
        await reporter.lifecycle(LifecycleEventKind.STOPPED, exit_code=EXIT_STOPPED)
        return EXIT_STOPPED
    return outcome.get("code", 0)


async def _po(container: Container) -> int:
    settings, reporter = container.settings, container.reporter
    sessions = po.SessionStore(container.redis, settings.worker_id)
    cwd = Path(settings.workspace_dir) / "po"
    cwd.mkdir(parents=True, exist_ok=True)
    if settings.instructions:
        (cwd / container.agent.instructions_file).write_text(settings.instructions)
    output_stream = PO_OUTPUT.name(worker_id=settings.worker_id)

    async def handle(message: POWorkerInput) -> None:
        await reporter.set_state({"state": "busy", "request_id": message.request_id})
        answer = await po.answer(
            message,
            agent=container.agent,
            sessions=sessions,
            cwd=cwd,
            timeout_s=settings.agent_timeout_s,
            extra_env=container.extra_env,
        )
        await reporter.publish(output_stream, answer)
        await reporter.set_state({"state": "idle"})

    consumer = StreamConsumer(
        container.redis,
        stream=PO_INPUT.name(worker_id=settings.worker_id),
        group="po-worker",
        consumer=settings.worker_id,
        handler=handle,
        options=ConsumerOptions(
            batch_size=1, claim_idle_ms=int(settings.agent_timeout_s * 2000), claim_interval_s=30
        ),
    )
    await _consume_until_stopped(container, consumer)
    await reporter.lifecycle(LifecycleEventKind.STOPPED, exit_code=EXIT_STOPPED)
    return EXIT_STOPPED


def main() -> None:
    settings = WrapperSettings()
    configure_logging(
        f"worker-wrapper:{settings.worker_id}", json=settings.log_json, level=settings.log_level
    )
    sys.exit(asyncio.run(serve(bootstrap(settings))))


if __name__ == "__main__":
    main()
