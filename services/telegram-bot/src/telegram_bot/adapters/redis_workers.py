"""PO workers through Redis: their state in `worker:status:{id}`, commands on `worker:commands`
answered on `worker:responses:po`, their input and output streams.

A worker's outputs are read by the kernel's consumer (group `telegram-bot`) while a turn waits
for them, so a hostile entry is dead-lettered there and an output is acknowledged only once the
turn has relayed it: one that could not be relayed stays pending and comes again."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import structlog
from pydantic import ValidationError
from redis.asyncio import Redis
from shared.contracts import (
    CreateWorkerCommand,
    DeleteWorkerCommand,
    POWorkerInput,
    POWorkerOutput,
    WorkerResponse,
    WorkerState,
)
from shared.keys import WORKER_STATUS
from shared.streams import ConsumerOptions, Group, RedisStreamPublisher, StreamConsumer
from shared.streams.registry import PO_INPUT, PO_OUTPUT, WORKER_COMMANDS

from telegram_bot.adapters.redis_errors import redis_unavailable
from telegram_bot.ports import Unavailable

log = structlog.get_logger("telegram_bot")

# How long a consumer that was asked to stop may take to hand back what it holds.
STOP_WAIT_S = 5.0
# Counting a worker's unread outputs stops here (more are relayed all the same, by the next turn).
UNREAD_COUNT_MAX = 1000


class Released(Exception):
    """An output read while its turn ended: it stays pending and comes again."""


class OutputBridge:
    """Hands a worker's outputs from the kernel's consumer to the waiting turn, one at a time,
    and holds each output's acknowledgement until the turn asks for the next one."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[POWorkerOutput, asyncio.Future[None]]] = asyncio.Queue()
        self._current: asyncio.Future[None] | None = None

    async def handle(self, output: POWorkerOutput) -> None:
        """The consumer's handler: returns (and the entry is acknowledged) once handled."""
        handled = asyncio.get_running_loop().create_future()
        await self._queue.put((output, handled))
        await handled

    async def next(self, within_s: float) -> POWorkerOutput | None:
        self._settle()
        try:
            output, self._current = await asyncio.wait_for(self._queue.get(), within_s)
        except TimeoutError:
            return None
        return output

    def close(self, *, handled: bool) -> None:
        """The turn ended: the output it holds is handled (or not), any other is released."""
        if handled:
            self._settle()
        held = [self._current] if self._current is not None else []
        while not self._queue.empty():
            held.append(self._queue.get_nowait()[1])
        for future in held:
            if not future.done():
                future.set_exception(Released("the turn ended before this output was relayed"))

    def _settle(self) -> None:
        if self._current is not None and not self._current.done():
            self._current.set_result(None)
        self._current = None


class RedisWorkers:
    def __init__(self, redis: Redis, *, consumer: str, options: ConsumerOptions) -> None:
        self._redis = redis
        self._publisher = RedisStreamPublisher(redis)
        self._consumer = consumer
        self._options = options
        self._waiting: dict[str, asyncio.Future[WorkerResponse]] = {}

    async def state(self, worker_id: str) -> WorkerState | None:
        with redis_unavailable():
            raw = cast(
                dict[str, str], await self._redis.hgetall(WORKER_STATUS.name(worker_id=worker_id))
            )
        if not raw:
            return None
        try:
            return cast(WorkerState, WORKER_STATUS.parse(raw).state)
        except ValidationError as exc:
            log.error("unreadable worker status", worker_id=worker_id, error=str(exc)[:300])
            return None

    async def create(self, command: CreateWorkerCommand, within_s: float) -> WorkerResponse:
        answer = asyncio.get_running_loop().create_future()
        self._waiting[command.request_id] = answer
        try:
            with redis_unavailable():
                await self._publisher.publish(WORKER_COMMANDS.pattern, command)
            try:
                return await asyncio.wait_for(asyncio.shield(answer), within_s)
            except TimeoutError:
                raise Unavailable(
                    f"worker-manager did not answer create {command.request_id} within {within_s} s"
                ) from None
        finally:
            self._waiting.pop(command.request_id, None)

    async def answered(self, response: WorkerResponse) -> None:
        """The handler of `worker:responses:po`: the answer goes to the create waiting for it
        (answers to deletes, and to creates of an earlier run, are only logged)."""
        waiting = self._waiting.get(response.request_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(response)
            return
        log.info(
            "an answer nobody waits for",
            command=response.command,
            success=response.success,
            worker_id=response.worker_id,
            error=response.error,
        )

    async def delete(self, command: DeleteWorkerCommand) -> None:
        with redis_unavailable():
            await self._publisher.publish(WORKER_COMMANDS.pattern, command)

    async def send(self, worker_id: str, message: POWorkerInput) -> bool:
        with redis_unavailable():
            sent = await self._publisher.publish_once(PO_INPUT.name(worker_id=worker_id), message)
        return sent is not None

    async def unread(self, worker_id: str) -> int:
        stream = PO_OUTPUT.name(worker_id=worker_id)
        with redis_unavailable():
            last = cast(list[tuple[str, Any]], await self._redis.xrevrange(stream, count=1))
            if not last:
                return 0
            groups = await self._redis.xinfo_groups(stream)
            ours = next((g for g in groups if g["name"] == Group.TELEGRAM_BOT), None)
            if ours is None:
                return await self._redis.xlen(stream)
            after = cast(
                list[tuple[str, Any]],
                await self._redis.xrange(
                    stream, min=f"({ours['last-delivered-id']}", count=UNREAD_COUNT_MAX
                ),
            )
        return int(ours["pending"]) + len(after)

    @contextlib.asynccontextmanager
    async def replies(self, worker_id: str) -> AsyncIterator[OutputBridge]:
        bridge = OutputBridge()
        consumer = StreamConsumer(
            self._redis,
            stream=PO_OUTPUT.name(worker_id=worker_id),
            group=Group.TELEGRAM_BOT,
            consumer=self._consumer,
            handler=bridge.handle,
            options=self._options,
        )
        runner = asyncio.create_task(consumer.run(), name=f"outputs of {worker_id}")
        try:
            yield bridge
        except BaseException:
            bridge.close(handled=False)
            raise
        else:
            bridge.close(handled=True)
        finally:
            consumer.stop()
            _, late = await asyncio.wait({runner}, timeout=STOP_WAIT_S)
            if late:
                runner.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await runner
