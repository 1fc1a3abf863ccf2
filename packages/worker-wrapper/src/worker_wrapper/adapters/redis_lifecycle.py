"""The worker's lifecycle events on their stream, in the order the worker lived them."""

from __future__ import annotations

import asyncio
from typing import Any

from shared.contracts import LifecycleEventKind, WorkerLifecycleEvent
from shared.streams.registry import WORKER_LIFECYCLE

from worker_wrapper.ports import Publisher


class RedisLifecycle:
    """The `Lifecycle` port. STARTED is published while the first input may already be handled
    (and retried while Redis is away): an event reported meanwhile waits for it."""

    def __init__(self, publisher: Publisher, *, worker_id: str) -> None:
        self._publisher = publisher
        self._worker_id = worker_id
        self._started: asyncio.Future[object] | None = None

    async def report(
        self,
        event: LifecycleEventKind,
        *,
        task_id: str | None = None,
        exit_code: int | None = None,
        error: str | None = None,
        result: dict[str, Any] | None = None,
        correlation_id: str | None = None,
    ) -> None:
        meta = {"correlation_id": correlation_id} if correlation_id else {}
        message = WorkerLifecycleEvent(
            worker_id=self._worker_id,
            event=event,
            task_id=task_id,
            exit_code=exit_code,
            error=error,
            result=result,
            **meta,
        )
        if event is LifecycleEventKind.STARTED:
            self._started = asyncio.ensure_future(
                self._publisher.publish(WORKER_LIFECYCLE.pattern, message)
            )
            await self._started
            return
        if self._started is not None and not self._started.done():
            await asyncio.wait([self._started])  # published, given up or cancelled: go on
        await self._publisher.publish(WORKER_LIFECYCLE.pattern, message)
