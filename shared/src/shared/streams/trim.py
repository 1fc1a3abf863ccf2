"""Trimming acknowledged history from work streams, and nothing else."""

from __future__ import annotations

from redis.asyncio import Redis


def _next_id(entry_id: str) -> str:
    ms, seq = entry_id.split("-")
    return f"{ms}-{int(seq) + 1}"


def _as_tuple(entry_id: str) -> tuple[int, int]:
    ms, seq = entry_id.split("-")
    return int(ms), int(seq)


async def trim_acknowledged(redis: Redis, stream: str) -> int:
    """Delete the entries every group has acknowledged; returns how many were deleted.

    An entry is kept while any group still has it pending, or has not been delivered it yet.
    A stream with no group at all is left untouched: nobody has acknowledged anything.
    """
    groups = await redis.xinfo_groups(stream)
    if not groups:
        return 0
    keep_from: list[str] = []
    for group in groups:
        summary = await redis.xpending(stream, group["name"])
        if summary["pending"]:
            keep_from.append(summary["min"])
        else:
            keep_from.append(_next_id(group["last-delivered-id"]))
    min_id = min(keep_from, key=_as_tuple)
    deleted: int = await redis.xtrim(stream, minid=min_id, approximate=False)
    return deleted
