"""A service's heartbeat file, and `codegen-health`, the containers' HEALTHCHECK that reads it.

A service run by `shared.runtime` with `HEALTH_FILE` set rewrites that file every
`HEALTH_INTERVAL_S` from its event loop, while every consumer and essential task still runs, and
removes it when it stops: a file that is missing or too old means a process that is stopping,
dead or wedged.

`codegen-health [--file PATH] [--max-age SECONDS]` runs every few seconds in every container, so
this module imports the standard library only (nothing else of the kernel, no pydantic), and it
is the one place outside a settings class that reads the environment: the same `HEALTH_FILE` and
`HEALTH_INTERVAL_S` the service's settings read.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

__all__ = [
    "DEFAULT_INTERVAL_S",
    "EXIT_HEALTHY",
    "EXIT_UNHEALTHY",
    "check",
    "default_max_age",
    "main",
    "remove_health_file",
    "write_health_file",
]

EXIT_HEALTHY = 0
EXIT_UNHEALTHY = 1  # Docker reserves 2: every failure, a bad flag included, is 1.
DEFAULT_INTERVAL_S = 5.0
# The file may miss this many beats, plus a margin for a slow start of the check itself.
MISSED_BEATS = 3
MARGIN_S = 5.0


def write_health_file(path: Path, service: str) -> None:
    """Replace `path` with a one-line record of this process, atomically: a reader sees the old
    file or the new one, never half of one. Raises OSError when the file cannot be written."""
    record = {
        "service": service,
        "pid": os.getpid(),
        "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
    }
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temporary.write_text(json.dumps(record) + "\n")
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise


def remove_health_file(path: Path) -> None:
    """Remove the file, if it can be: best effort."""
    with contextlib.suppress(OSError):
        path.unlink()


def default_max_age(environ: Mapping[str, str]) -> float:
    """3 * HEALTH_INTERVAL_S (5 s unless set) + 5 s. Raises ValueError for a bad interval."""
    interval = float(environ.get("HEALTH_INTERVAL_S", DEFAULT_INTERVAL_S))
    if not interval > 0:
        raise ValueError("HEALTH_INTERVAL_S must be a positive number of seconds")
    return MISSED_BEATS * interval + MARGIN_S


def check(path: Path, max_age_s: float, now: float) -> dict[str, Any]:
    """Whether the file at `path` was written within `max_age_s` of `now` (epoch seconds)."""
    try:
        written = path.stat().st_mtime
    except FileNotFoundError:
        return {"healthy": False, "reason": f"no health file at {path}"}
    except OSError as exc:
        return {"healthy": False, "reason": f"cannot read the health file: {exc}"}
    age = round(now - written, 3)
    if age > max_age_s:
        return {
            "healthy": False,
            "reason": f"the health file is {age} s old (at most {max_age_s} s)",
            "age_s": age,
        }
    return {"healthy": True, "age_s": age}


class _Usage(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _Usage(message)


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """`codegen-health`: print one JSON line; 0 when the file is fresh, 1 otherwise."""
    environ = os.environ if environ is None else environ
    parser = _Parser(prog="codegen-health", description="Is the service in this container alive?")
    parser.add_argument("--file", type=Path, help="the health file (default: $HEALTH_FILE)")
    parser.add_argument(
        "--max-age",
        type=positive,
        metavar="SECONDS",
        help="the oldest a healthy file may be (default: 3 * $HEALTH_INTERVAL_S + 5)",
    )
    result: dict[str, Any]
    try:
        args = parser.parse_args(argv)
    except _Usage as exc:
        print(json.dumps({"healthy": False, "reason": f"usage: {exc}"}), flush=True)
        return EXIT_UNHEALTHY
    named = environ.get("HEALTH_FILE")
    path: Path | None = args.file or (Path(named) if named else None)
    if path is None:
        result = {"healthy": False, "reason": "no HEALTH_FILE set and no --file given"}
    else:
        try:
            max_age = args.max_age or default_max_age(environ)
        except ValueError:
            result = {"healthy": False, "reason": "HEALTH_INTERVAL_S is not a positive number"}
        else:
            result = check(path, max_age, time.time())
    print(json.dumps(result), flush=True)
    return EXIT_HEALTHY if result["healthy"] else EXIT_UNHEALTHY


if __name__ == "__main__":
    sys.exit(main())
