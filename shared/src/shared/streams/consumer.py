"""Consuming a registered stream through a consumer group, with plain async handlers.

Delivery is at-least-once. An entry is acknowledged only after its handler returned. An entry
whose handler raised stays pending and is delivered again once it has been idle for
`claim_idle_ms` (to this consumer or any other of the group): that is for transient failures. An
entry that is not UTF-8 text, does not validate, whose handler raised `PermanentFailure` (retrying
cannot help), or that has been delivered more than `max_deliveries` times, goes to
`<stream>:dlq` with the reason and is then acknowledged, in one transaction.

A consumer's name is its replica's (unique among the live ones): what is pending under that name
when the consumer starts was left by its previous run, which stopped or died while handling it,
so it is taken up at once rather than after `claim_idle_ms`.

Entries are read as bytes and judged one by one (`shared.streams.raw`), so no entry can take the
reader down with it. A consumer's loops end on `stop()` and on cancellation, also a cancellation
that a library call swallowed (Python 3.11's `wait_for` can): a service never stays up deaf.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import structlog
from redis.asyncio import Redis
from redis.exceptions import BusyLoadingError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.contracts import DeadLetter
from shared.keys import CONSUMER_FAILURES
from shared.streams import raw
from shared.streams.errors import PermanentFailure
from shared.streams.idempotency import RequestInProgress
from shared.streams.raw import RawEntry
from shared.streams.registry import REGISTRY, StreamKind, StreamRegistry, dlq_stream
from shared.streams.wire import (
    InvalidEntry,
    UndecodableEntry,
    base64_fields,
    decode,
    encode,
    readable_fields,
    text_fields,
)

Handler = Callable[[Any], Awaitable[None]]

REDIS_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, BusyLoadingError, OSError)

log = structlog.get_logger("shared.streams")


def raise_if_cancelled() -> None:
    """Re-raise a cancellation of the current task that something below swallowed.

    Python 3.11's `asyncio.wait_for` (inside redis-py) returns normally when the awaited call
    completes in the same step as the cancellation; the task's `cancelling()` count still says
    it was cancelled. A loop that checks this cannot outlive the TaskGroup that cancelled it."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass(frozen=True)
class ConsumerOptions:
    block_ms: int = 5_000
    batch_size: int = 10
    claim_idle_ms: int = 60_000
    claim_interval_s: float = 5.0
    max_deliveries: int = 5
    reconnect_initial_s: float = 0.1
    reconnect_max_s: float = 5.0
    # A duplicate of a request another delivery is running waits here for it, instead of waiting
    # `claim_idle_ms` for a reclaim: it retries this often, for at most `claim_idle_ms`.
    in_progress_retry_s: float = 1.0
    # An entry whose handler failed (an API away, say) is taken again after this, tripled at
    # each delivery, at most `claim_idle_ms`: not only once `claim_idle_ms` has passed.
    retry_initial_ms: int = 10_000


class Backoff:
    """Exponential backoff with full jitter."""

    def __init__(self, initial: float, maximum: float) -> None:
        self._initial = initial
        self._maximum = maximum
        self.attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self._maximum, self._initial * 2**self.attempt)
        self.attempt += 1
        return random.uniform(ceiling / 2, ceiling)

    def reset(self) -> None:
        self.attempt = 0


class StreamConsumer:
    """One consumer of one group on one stream, running `handler` for every entry."""

    def __init__(
        self,
        redis: Redis,
        *,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        options: ConsumerOptions | None = None,
        registry: StreamRegistry = REGISTRY,
    ) -> None:
        spec = registry.resolve(stream)
        if spec.kind is not StreamKind.WORK:
            raise ValueError(f"{stream!r} is an event stream; it is not read through a group")
        if group not in spec.groups:
            raise ValueError(f"{group!r} is not a registered consumer group of {stream!r}")
        options = options or ConsumerOptions()
        socket_timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
        if socket_timeout is not None and options.block_ms >= socket_timeout * 1000:
            raise ValueError(
                f"block_ms={options.block_ms} must be shorter than the client's socket timeout "
                f"({socket_timeout} s): a read that times out loses its reply"
            )
        self._redis = redis
        self._reader = raw.raw_reader(redis)
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._handler = handler
        self._adapter = spec.adapter
        self._options = options
        self._failures_key = CONSUMER_FAILURES.name(stream=stream, group=group)
        self._stopping = asyncio.Event()
        self._took_own_pending = False
        self._backoff = Backoff(self._options.reconnect_initial_s, self._options.reconnect_max_s)
        self._log = log.bind(stream=stream, group=group, consumer=consumer)

    def stop(self) -> None:
        """Ask the consumer to exit once the entry in flight is handled and acknowledged."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    async def run(self) -> None:
        """Consume until `stop()` or cancellation; survives Redis restarts by reconnecting."""
        while not self.stopping:
            raise_if_cancelled()
            try:
                await self._ensure_group()
                await self._serve()
            except ResponseError as exc:
                # A Redis that came back without its data, or a deleted stream, takes the group
                # with it (NOGROUP; Redis 7 also unblocks readers with UNBLOCKED): make it again.
                if "NOGROUP" in str(exc) or "UNBLOCKED" in str(exc):
                    self._log.warning("consumer group vanished, recreating it", error=str(exc))
                    continue
                delay = self._backoff.next_delay()
                self._log.error(
                    "redis refused a command, retrying", error=str(exc), retry_in_s=delay
                )
                await self._sleep_unless_stopped(delay)
            except REDIS_UNAVAILABLE as exc:
                delay = self._backoff.next_delay()
                self._log.warning("redis unavailable, retrying", error=str(exc), retry_in_s=delay)
                await self._sleep_unless_stopped(delay)
        self._log.info("consumer stopped")

    async def _ensure_group(self) -> None:
        try:
            await self._redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _serve(self) -> None:
        if not self._took_own_pending:
            await self._take_own_pending()
            self._took_own_pending = True
        next_claim = 0.0
        while not self.stopping:
            raise_if_cancelled()
            if time.monotonic() >= next_claim:
                await self._reclaim_idle()
                next_claim = time.monotonic() + self._options.claim_interval_s
            batch = await self._read_new(timeout_s=max(0.0, next_claim - time.monotonic()))
            self._backoff.reset()
            await self._handle_batch(batch, deliveries=None)

    async def _read_new(self, timeout_s: float) -> list[RawEntry]:
        block_ms = max(1, min(self._options.block_ms, int(timeout_s * 1000)))
        read = asyncio.ensure_future(
            raw.xreadgroup(
                self._reader,
                group=self.group,
                consumer=self.consumer,
                stream=self.stream,
                count=self._options.batch_size,
                block_ms=block_ms,
            )
        )
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not read.done():
                read.cancel()
                with contextlib.suppress(asyncio.CancelledError, *REDIS_UNAVAILABLE):
                    await read
        raise_if_cancelled()
        if read.cancelled():
            return []
        return read.result()

    async def _take_own_pending(self) -> None:
        """Handle what a previous run under this consumer's name left pending, oldest first."""
        after, taken = "0-0", 0
        while not self.stopping:
            raise_if_cancelled()
            entries = await raw.xreadgroup(
                self._reader, group=self.group, consumer=self.consumer, stream=self.stream,
                count=self._options.batch_size, block_ms=None, after=after,
            )  # fmt: skip
            if entries:
                after = entries[-1][0]
                taken += len(entries)
                await self._handle_batch(entries, deliveries=await self._delivery_counts(entries))
            # Fewer than asked: the end (an entry deleted meanwhile is left to the reclaim).
            if len(entries) < self._options.batch_size:
                break
        if taken:
            self._log.info("took up entries a previous run left pending", count=taken)

    async def _reclaim_idle(self) -> None:
        """Claim every entry idle past the threshold, walking the whole pending list.

        XAUTOCLAIM looks at no more than COUNT x 10 pending entries per call, so one call can
        return nothing while idle entries remain further on: follow its cursor until it wraps.
        """
        cursor = "0-0"
        while not self.stopping:
            raise_if_cancelled()
            start = cursor
            cursor, claimed = await raw.xautoclaim(
                self._reader,
                stream=self.stream,
                group=self.group,
                consumer=self.consumer,
                min_idle_ms=self._options.claim_idle_ms,
                start=start,
                count=self._options.batch_size,
            )
            entries = [entry for entry in claimed if entry is not None]
            if len(entries) < len(claimed):
                await self._ack_deleted(start, cursor)
            if entries:
                self._log.info("reclaimed idle entries", count=len(entries))
                await self._handle_batch(entries, deliveries=await self._delivery_counts(entries))
            if cursor == "0-0":
                return

    async def _ack_deleted(self, start: str, end: str) -> None:
        """Acknowledge pending entries whose content was deleted from the stream.

        Redis 7 drops them from the pending list itself; Redis 6.2 answers XAUTOCLAIM with nil for
        them and keeps them pending forever. Nobody can handle an entry that no longer exists.
        """
        pending = await self._redis.xpending_range(
            self.stream,
            self.group,
            min=start,
            max="+" if end == "0-0" else end,
            count=self._options.batch_size * 10,
        )
        for item in pending:
            entry_id = str(item["message_id"])
            if not await raw.entry_ids(self._reader, self.stream, start=entry_id, end=entry_id):
                await self._redis.xack(self.stream, self.group, entry_id)
                self._log.warning(
                    "acknowledged a pending entry that was deleted", entry_id=entry_id
                )

    async def _delivery_counts(self, entries: list[RawEntry]) -> dict[str, int]:
        pending = await self._redis.xpending_range(
            self.stream,
            self.group,
            min=entries[0][0],
            max=entries[-1][0],
            count=len(entries) * 2,
            consumername=self.consumer,
        )
        return {str(p["message_id"]): int(p["times_delivered"]) for p in pending}

    async def _handle_batch(
        self, entries: list[RawEntry], deliveries: dict[str, int] | None
    ) -> None:
        for index, (entry_id, fields) in enumerate(entries):
            if self.stopping:
                await self._release([eid for eid, _ in entries[index:]])
                return
            count = 1 if deliveries is None else deliveries.get(entry_id, 1)
            await self._handle_entry(entry_id, fields, count)

    async def _handle_entry(self, entry_id: str, fields: list[bytes], deliveries: int) -> None:
        try:
            message = decode(text_fields(fields), self._adapter)
        except UndecodableEntry as exc:
            await self._dead_letter(
                entry_id, fields, deliveries, reason="undecodable", error=str(exc)
            )
            return
        except InvalidEntry as exc:
            await self._dead_letter(entry_id, fields, deliveries, reason="invalid", error=str(exc))
            return
        if deliveries > self._options.max_deliveries:
            last_error = cast(str | None, await self._redis.hget(self._failures_key, entry_id))
            await self._dead_letter(
                entry_id,
                fields,
                deliveries,
                reason="max_deliveries",
                error=last_error or "delivered too many times without being acknowledged",
            )
            return
        with structlog.contextvars.bound_contextvars(
            correlation_id=message.correlation_id,
            request_id=message.request_id,
            stream=self.stream,
            entry_id=entry_id,
        ):
            try:
                waited = await self._run_waiting_for_duplicates(message, entry_id)
            except PermanentFailure as exc:
                await self._dead_letter(
                    entry_id,
                    fields,
                    deliveries,
                    reason="permanent_failure",
                    error=f"{type(exc).__name__}: {exc}"[:4000],
                )
                return
            except Exception as exc:
                self._log.exception(
                    "handler failed; the entry stays pending", deliveries=deliveries
                )
                await self._redis.hset(
                    self._failures_key, entry_id, f"{type(exc).__name__}: {exc}"[:4000]
                )
                await self._retry_later(entry_id, deliveries)
                return
            await self._ack(entry_id, forget_failure=deliveries > 1 or waited)

    async def _run_waiting_for_duplicates(self, message: Any, entry_id: str) -> bool:
        """Run the handler; while another delivery of the same request runs its effect
        (`RequestInProgress`), try again every `in_progress_retry_s`, so the duplicate ends as
        soon as the first does. Gives up (the entry stays pending) on stop or after
        `claim_idle_ms`. True when it had to wait (a failure was recorded meanwhile)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._options.claim_idle_ms / 1000
        waited = False
        while True:
            try:
                await self._handler(message)
                return waited
            except RequestInProgress as exc:
                waited = True
                await self._redis.hset(
                    self._failures_key, entry_id, f"{type(exc).__name__}: {exc}"[:4000]
                )
                if self.stopping or loop.time() >= deadline:
                    raise
            await self._sleep_unless_stopped(self._options.in_progress_retry_s)
            raise_if_cancelled()

    async def _ack(self, entry_id: str, *, forget_failure: bool) -> None:
        async with self._redis.pipeline(transaction=True) as tx:
            tx.xack(self.stream, self.group, entry_id)
            if forget_failure:
                tx.hdel(self._failures_key, entry_id)
            await tx.execute()

    async def _dead_letter(
        self, entry_id: str, fields: list[bytes], deliveries: int, *, reason: str, error: str
    ) -> None:
        names = fields[0::2]
        lossy_as_text = reason == "undecodable" or len(set(names)) < len(names)
        letter = DeadLetter(
            source_stream=self.stream,
            entry_id=entry_id,
            group=self.group,
            delivery_count=deliveries,
            reason=reason,
            error=error,
            fields=readable_fields(fields),
            raw_fields_base64=base64_fields(fields) if lossy_as_text else None,
        )
        async with self._redis.pipeline(transaction=True) as tx:
            tx.xadd(dlq_stream(self.stream), encode(letter))  # type: ignore[arg-type]
            tx.xack(self.stream, self.group, entry_id)
            tx.hdel(self._failures_key, entry_id)
            await tx.execute()
        self._log.error(
            "entry dead-lettered",
            entry_id=entry_id,
            reason=reason,
            error=error,
            deliveries=deliveries,
        )

    async def _release(self, entry_ids: list[str]) -> None:
        """Hand entries read but not started back to the group: mark them idle past the threshold
        so the next reclaim by any consumer takes them at once (JUSTID keeps their count)."""
        if entry_ids:
            await self._redis.xclaim(
                self.stream,
                self.group,
                self.consumer,
                min_idle_time=0,
                message_ids=list[Any](entry_ids),
                idle=self._options.claim_idle_ms,
                justid=True,
            )

    async def _retry_later(self, entry_id: str, deliveries: int) -> None:
        """Make a failed entry reclaimable after a backoff: its idle time is set so that the
        reclaim past the delay (by any consumer of the group) takes it; JUSTID keeps its count,
        so `max_deliveries` still ends a hopeless one in the dead letters."""
        options = self._options
        backoff_ms = options.retry_initial_ms * 3 ** max(0, deliveries - 1)
        delay_ms = min(options.claim_idle_ms, backoff_ms)
        await self._redis.xclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=0,
            message_ids=[entry_id],
            idle=options.claim_idle_ms - delay_ms,
            justid=True,
        )

    async def _sleep_unless_stopped(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), timeout=delay)
