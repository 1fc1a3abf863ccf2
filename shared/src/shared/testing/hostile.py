"""Hostile stream input, for every consuming service's tests.

Anything that can write to Redis can write any bytes to any stream. These strategies (hypothesis)
build such entries: raw bytes that are not UTF-8, field names that repeat, JSON of every shape,
valid messages with one field swapped for something hostile (option-looking strings that would
run a command if they reached an argv, shell metacharacters, path traversal, NUL and control
characters, very long text, numbers past every limit, types a lax reader would coerce, unknown
versions). `xadd_raw` writes one as it is; `settled` waits until a group has taken and finished
everything; `dead_letters` says what went to the DLQ and why. After a run, every entry must be
handled, answered with a failed result, or dead-lettered with a reason; nothing stays pending;
the service still answers a valid message; and the marker file the commands would create does
not exist.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, cast

from hypothesis import strategies as st
from pydantic import BaseModel
from redis.asyncio import Redis

from shared.contracts import DeadLetter
from shared.streams import raw
from shared.streams.registry import dlq_stream

RawFields = list[bytes]


def command_strings(marker: Path) -> list[str]:
    """Strings that run `touch marker` if they ever reach a shell or a program's options."""
    touch = f"touch {marker}"
    return [
        f"--upload-pack={touch}",
        f"--upload-pack={touch} #://x",
        f"-oProxyCommand={touch}",
        f"--config=core.sshCommand={touch}",
        f"ext::sh -c {touch.replace(' ', '% ')}",
        f"$({touch})",
        f"`{touch}`",
        f"; {touch}",
        f"| {touch}",
        f"&& {touch}",
        f"\n{touch}\n",
        f"x' ; {touch} ; '",
        f"--output={marker}",
        f"-o{marker}",
        f"{{{{ lookup('pipe', '{touch}') }}}}",
    ]


PATHS = [
    "../../../../etc/passwd",
    "/etc/shadow",
    "..",
    ".",
    "~root/.ssh/id_rsa",
    "file:///etc/passwd",
    "a/../../b",
    "\\\\host\\share",
]
ODD_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x1b[2J\x1b[H",
    "\r\n",
    "\u202eevil",
    "💥" * 10,
    "\ud7ff",
    "x" * 64,
    "x" * 300,
    "-",
    "--",
    "-h",
    "--help",
    "null",
    "true",
    "{}",
]
ODD_NUMBERS: list[Any] = [0, -1, 1, 2, 2**31, 2**63, 2**64, -(2**63), 1e308, 0.5, True, False]


def hostile_text(marker: Path) -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(command_strings(marker) + PATHS + ODD_TEXT),
        st.text(max_size=50),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=1000, max_size=5000),
        st.just("n" * 1_000_000),
    )


def hostile_value(marker: Path) -> st.SearchStrategy[Any]:
    """Any JSON value a producer could put where a field is expected."""
    scalar = st.one_of(
        hostile_text(marker),
        st.sampled_from(ODD_NUMBERS),
        st.none(),
        st.integers(),
        st.floats(allow_nan=False, allow_infinity=False),
    )
    return st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
        ),
        max_leaves=8,
    )


def _data(payload: Any) -> RawFields:
    return [b"data", json.dumps(payload, allow_nan=True).encode("utf-8", "surrogatepass")]


def hostile_entries(valid: BaseModel, marker: Path) -> st.SearchStrategy[RawFields]:
    """Entries (names and values alternating, as bytes) that a consumer must survive.

    `valid` is a message the stream accepts; most entries are it with something changed, so the
    hostile part reaches past the outer checks into the handler's inputs."""
    base: dict[str, Any] = json.loads(valid.model_dump_json())
    field_names = sorted(base)

    def swapped(name: str, value: Any) -> RawFields:
        return _data({**base, name: value})

    def without(name: str) -> RawFields:
        return _data({k: v for k, v in base.items() if k != name})

    raw_bytes = st.binary(min_size=1, max_size=64)
    return st.one_of(
        # one field of a valid message swapped for something hostile
        st.builds(swapped, st.sampled_from(field_names), hostile_value(marker)),
        # unknown versions and values a lax reader would coerce
        st.builds(
            swapped, st.just("version"), st.sampled_from([0, 2, 99, 2**63, "1", True, 1.0, None])
        ),
        # a required field missing, an unknown one added
        st.builds(without, st.sampled_from(field_names)),
        # not UTF-8, in a value or a name
        st.builds(lambda b: [b"data", b"\xff" + b], raw_bytes),
        st.builds(lambda b: [b"\xfe" + b, valid.model_dump_json().encode()], raw_bytes),
        # `data` twice: a reader keeping one would act on a value nobody sees
        st.builds(
            lambda other: [b"data", valid.model_dump_json().encode(), b"data", other],
            st.sampled_from([valid.model_dump_json().encode(), b"{}", b"\xff"]),
        ),
        # other fields, or data that is not JSON, or JSON of another shape
        st.lists(raw_bytes, min_size=2, max_size=6).filter(lambda items: len(items) % 2 == 0),
        st.builds(lambda text: [b"data", text.encode()], st.text(max_size=200)),
        st.builds(_data, hostile_value(marker)),
    )


async def xadd_raw(redis: Redis, stream: str, fields: RawFields) -> str:
    """Write an entry exactly as given, bypassing every check of the layer."""
    entry_id = await redis.execute_command("XADD", stream, "*", *fields)  # type: ignore[no-untyped-call]
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)


async def _group_done(redis: Redis, stream: str, group: str) -> bool:
    groups: list[dict[str, Any]] = await redis.xinfo_groups(stream)
    mine = next((g for g in groups if g["name"] == group), None)
    if mine is None or int(mine["pending"]):
        return False
    last = await raw.last_entry_id(raw.raw_reader(redis), stream)
    return last is None or _id(mine["last-delivered-id"]) >= _id(last)


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


async def settled(redis: Redis, stream: str, group: str, within: float = 60.0) -> None:
    """Wait until `group` has been delivered every entry of `stream` and acknowledged them all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await _group_done(redis, stream, group):
        if loop.time() > deadline:
            pending = await redis.xpending(stream, group)
            raise AssertionError(f"{stream}/{group} not settled within {within} s: {pending}")
        await asyncio.sleep(0.05)


async def dead_letters(redis: Redis, stream: str) -> dict[str, DeadLetter]:
    """The DLQ of `stream`, by the source entry's id."""
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(dlq_stream(stream)))
    letters = [DeadLetter.model_validate_json(fields["data"]) for _, fields in entries]
    return {letter.entry_id: letter for letter in letters}
