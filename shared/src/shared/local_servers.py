"""What running PostgreSQL and Redis from PyPI packages on this machine takes, for the test
servers (`shared.testing.servers`) and the local stack alike: a free port, a package's directory,
and, as root, an unprivileged user that can reach the binaries and the data (Postgres refuses to
run as root)."""

from __future__ import annotations

import importlib.util
import pwd
import socket
import subprocess
from pathlib import Path
from typing import Any

PG_SYSTEM_USER = "pgserver"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def package_dir(name: str) -> Path:
    """A package's directory, found without importing it (pgserver's import has side effects)."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{name} is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def ensure_system_user(name: str) -> None:
    try:
        pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", name], check=True, capture_output=True
        )


def make_traversable(path: Path, bits: int = 0o005) -> None:
    """`bits` for others on `path` and its parents: search, and read for the binaries."""
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if mode & bits != bits:
            parent.chmod(mode | bits)


def as_user(user: str | None) -> dict[str, Any]:
    """Popen's arguments to run as `user` with its own group and no other: with root's groups
    kept, root's group permissions would decide what it may reach."""
    return {} if user is None else {"user": user, "group": user, "extra_groups": []}
