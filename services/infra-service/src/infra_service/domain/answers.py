"""Every request gets exactly one result: produced once, kept, and published again on a repeat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import structlog
from pydantic import BaseModel

from infra_service.ports import Idempotency, InventoryRefused, Publisher, ResultStore

log = structlog.get_logger("infra_service")

M = TypeVar("M", bound=BaseModel)


async def answer_once(
    scope: str,
    request_id: str,
    stream: str,
    result_type: type[M],
    produce: Callable[[], Awaitable[M]],
    *,
    refused: Callable[[str], M],
    idempotency: Idempotency,
    results: ResultStore,
    publisher: Publisher,
) -> None:
    """Produce the result once per request, keep it, and publish it; a redelivered request
    publishes the kept result again (consumers drop the repeat by its request id).

    What the API refuses will be refused again: that is the request's failed result, answered
    now. Anything else raised (the API's 5xx, no connection, Redis) leaves the entry pending, to
    be tried again."""

    async def once() -> None:
        try:
            result = await produce()
        except InventoryRefused as exc:
            log.warning("request refused by the API", error=str(exc))
            result = refused(str(exc))
        await results.keep(scope, request_id, result)

    await idempotency.run_once(scope, request_id, once)
    kept = await results.kept(scope, request_id, result_type)
    if kept is None:
        log.warning("request already answered and its result expired; nothing to repeat")
        return
    await publisher.publish(stream, kept)
