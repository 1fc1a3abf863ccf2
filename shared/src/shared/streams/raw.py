"""Stream reads that hand back entries exactly as Redis keeps them: bytes, repeated names and all.

The system's clients decode replies to text, and redis-py turns an entry's fields into a dict. A
reply holding one byte that is not UTF-8 would then fail as a whole, inside the read, for every
entry in it, and a repeated field name would silently keep its last value. These reads skip both:
each entry comes back as its id and its names and values alternating, undecoded, so the layer can
judge every entry on its own (`shared.streams.wire.text_fields`).
"""

from __future__ import annotations

from typing import Any

from redis.asyncio import Redis
from redis.client import NEVER_DECODE

RawEntry = tuple[str, list[bytes]]

_COMMANDS = ("XREADGROUP", "XAUTOCLAIM", "XREAD", "XRANGE", "XREVRANGE")


def raw_reader(redis: Redis) -> Redis:
    """A client on the same connections whose stream reads are neither decoded nor reshaped."""
    reader = Redis(connection_pool=redis.connection_pool)
    for command in _COMMANDS:
        reader.set_response_callback(command, _as_is)
    return reader


def _as_is(response: Any, **_: Any) -> Any:
    return response


def _text(value: bytes | str) -> str:
    return value.decode("ascii") if isinstance(value, bytes) else value


def _entries(entries: list[Any] | None) -> list[RawEntry | None]:
    """Redis 6.2 answers XAUTOCLAIM with nil for an entry whose content was deleted."""
    return [
        None if entry is None or entry[1] is None else (_text(entry[0]), list(entry[1]))
        for entry in entries or []
    ]


def _streams(response: Any) -> list[RawEntry | None]:
    """XREAD/XREADGROUP: a map (RESP3) or a list of pairs (RESP2) of stream → entries."""
    if not response:
        return []
    pairs = response.items() if isinstance(response, dict) else response
    found: list[RawEntry | None] = []
    for _, entries in pairs:
        found.extend(_entries(entries))
    return found


async def xreadgroup(
    reader: Redis,
    *,
    group: str,
    consumer: str,
    stream: str,
    count: int,
    block_ms: int | None,
    after: str = ">",
) -> list[RawEntry]:
    """New entries (`after` ">"), or this consumer's own pending entries after the id given."""
    block = ["BLOCK", block_ms] if block_ms is not None else []
    response = await reader.execute_command(  # type: ignore[no-untyped-call]
        "XREADGROUP", "GROUP", group, consumer, "COUNT", count, *block,
        "STREAMS", stream, after,
        **{NEVER_DECODE: True},
    )  # fmt: skip
    return [entry for entry in _streams(response) if entry is not None]


async def xautoclaim(
    reader: Redis,
    *,
    stream: str,
    group: str,
    consumer: str,
    min_idle_ms: int,
    start: str,
    count: int,
) -> tuple[str, list[RawEntry | None]]:
    """The next cursor and the claimed entries (None for one whose content was deleted)."""
    response = await reader.execute_command(  # type: ignore[no-untyped-call]
        "XAUTOCLAIM", stream, group, consumer, min_idle_ms, start, "COUNT", count,
        **{NEVER_DECODE: True},
    )  # fmt: skip
    return _text(response[0]), _entries(response[1])


async def xread(
    reader: Redis, *, stream: str, after: str, count: int, block_ms: int | None
) -> list[RawEntry]:
    args: list[Any] = ["XREAD", "COUNT", count]
    if block_ms is not None:
        args += ["BLOCK", block_ms]
    response = await reader.execute_command(  # type: ignore[no-untyped-call]
        *args, "STREAMS", stream, after, **{NEVER_DECODE: True}
    )
    return [entry for entry in _streams(response) if entry is not None]


async def entry_ids(
    reader: Redis, stream: str, *, start: str = "-", end: str = "+", count: int | None = None
) -> list[str]:
    """The ids of the entries in a range, whatever the entries hold."""
    args: list[Any] = ["XRANGE", stream, start, end]
    if count is not None:
        args += ["COUNT", count]
    response = await reader.execute_command(  # type: ignore[no-untyped-call]
        *args, **{NEVER_DECODE: True}
    )
    return [_text(entry[0]) for entry in response or []]


async def last_entry_id(reader: Redis, stream: str) -> str | None:
    """The newest entry's id, whatever it holds; None for an empty or missing stream."""
    response = await reader.execute_command(  # type: ignore[no-untyped-call]
        "XREVRANGE", stream, "+", "-", "COUNT", 1, **{NEVER_DECODE: True}
    )
    return _text(response[0][0]) if response else None
