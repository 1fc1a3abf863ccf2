"""A fake Hetzner Cloud API on loopback: the server list a provider sync reads.

The server speaks, on 127.0.0.1 and a free port, what api.hetzner.cloud/v1 answers:

- `GET {url}/servers` with `Authorization: Bearer <token>`: `page` (from 1) and `per_page`
  (25 when not given, at most 50), optionally `name` and `status` filters; the answer is
  `{"servers": [...], "meta": {"pagination": {"page", "per_page", "previous_page",
  "next_page", "last_page", "total_entries"}}}`, servers ordered by id. Each server has
  Hetzner's shape: `id` (an integer), `name`, `status` (`running`, `initializing`, `off`, ...),
  `created`, `public_net` (`ipv4` is `{"ip", ...}` or null), `server_type` (`name`, `cores`,
  `memory` in GB as a float, `disk` in GB), `datacenter`, `image`, `labels`, ...
- `GET {url}/servers/{id}`: `{"server": {...}}`, or 404 `not_found`.
- Errors as Hetzner gives them: `{"error": {"code", "message", "details"}}` with the status:
  a missing or wrong token is 401 `unauthorized` ("unable to authenticate"), a bad `page` or
  `per_page` 400 `invalid_input`, an unknown path 404 `not_found`, another method 405.
- Answers carry the `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` headers.

Test side, thread-safe: `add_server(name, ...)` (its id), `change_server(id, ...)`,
`remove_server(id)`, `servers`; `fail_next(n, status=...)` answers the next `n` calls with that
status and Hetzner's error body; `requests` (every request: method, path, query, whether its
token was right, the status answered; the token itself is never kept).

    with FakeHetzner() as hetzner:
        server_id = hetzner.add_server("web-1", ipv4="203.0.113.10")
        provider = HetznerProvider(api_url=hetzner.url, token=lambda: hetzner.token)
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import socket
import string
import threading
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

__all__ = ["FakeHetzner", "FakeServer", "RecordedRequest"]

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 50
RATE_LIMIT = 3600
ERROR_CODES = {
    400: "invalid_input",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    423: "locked",
    429: "rate_limit_exceeded",
    500: "server_error",
    502: "service_error",
    503: "unavailable",
}
ERROR_MESSAGES = {
    401: "unable to authenticate",
    403: "insufficient permissions for this request",
    429: "limit of 3600 requests per hour reached",
    500: "internal server error",
    503: "service unavailable",
}
STATUSES = frozenset(
    {
        "running",
        "initializing",
        "starting",
        "stopping",
        "off",
        "deleting",
        "migrating",
        "rebuilding",
        "unknown",
    }
)
CREATED = "2026-01-30T23:55:00+00:00"


@dataclass(frozen=True)
class FakeServer:
    """A server as the fake keeps it; `as_json()` is Hetzner's shape."""

    id: int
    name: str
    status: str = "running"
    ipv4: str | None = "203.0.113.10"
    server_type: str = "cx22"
    cores: int = 2
    memory: float = 4.0
    disk: int = 40
    labels: dict[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        ipv4 = None
        if self.ipv4 is not None:
            reverse = ".".join(reversed(self.ipv4.split(".")))
            ipv4 = {
                "id": self.id + 40_000_000,
                "ip": self.ipv4,
                "blocked": False,
                "dns_ptr": f"static.{reverse}.clients.your-server.de",
            }
        return {
            "id": self.id,
            "name": self.name,
            "status": self.status,
            "created": CREATED,
            "public_net": {
                "ipv4": ipv4,
                "ipv6": {
                    "id": self.id + 50_000_000,
                    "ip": f"2001:db8:{self.id % 65536:x}::/64",
                    "blocked": False,
                    "dns_ptr": [],
                },
                "floating_ips": [],
                "firewalls": [],
            },
            "private_net": [],
            "server_type": {
                "id": 22,
                "name": self.server_type,
                "description": self.server_type.upper(),
                "cores": self.cores,
                "cpu_type": "shared",
                "architecture": "x86",
                "memory": self.memory,
                "disk": self.disk,
                "storage_type": "local",
                "deprecated": False,
                "prices": [],
            },
            "datacenter": {
                "id": 3,
                "name": "fsn1-dc14",
                "description": "Falkenstein 1 virtual DC 14",
                "location": {"id": 1, "name": "fsn1", "city": "Falkenstein", "country": "DE"},
            },
            "image": {
                "id": 114690387,
                "type": "system",
                "name": "debian-12",
                "os_flavor": "debian",
            },
            "iso": None,
            "rescue_enabled": False,
            "locked": False,
            "backup_window": None,
            "outgoing_traffic": 0,
            "ingoing_traffic": 0,
            "included_traffic": 21990232555520,
            "primary_disk_size": self.disk,
            "protection": {"delete": False, "rebuild": False},
            "labels": dict(self.labels),
            "volumes": [],
            "load_balancers": [],
            "placement_group": None,
        }


@dataclass
class RecordedRequest:
    """One request as received. The token is not kept, only whether it was the right one."""

    method: str
    target: str  # path and query, as sent
    authorized: bool
    bearer: bool  # the `Authorization` header had the `Bearer` scheme
    status: int | None = None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> dict[str, str]:
        return {key: values[-1] for key, values in parse_qs(urlsplit(self.target).query).items()}


@dataclass
class _Reply:
    status: int
    body: Any


class FakeHetzner:
    """Hetzner Cloud's server list, on 127.0.0.1; `url` is the API's base (`.../v1`)."""

    def __init__(self, *, token: str | None = None) -> None:
        alphabet = string.ascii_letters + string.digits
        self.token = token or "".join(secrets.choice(alphabet) for _ in range(64))
        self._lock = threading.Lock()
        self._servers: dict[int, FakeServer] = {}
        self._requests: list[RecordedRequest] = []
        self._failures: list[int] = []
        self._ids = itertools.count(4_711_001)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifetime -------------------------------------------------------------------------------

    def start(self) -> FakeHetzner:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="fake-hetzner"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            with self._lock:
                connections = list(self._connections)
            for connection in connections:  # idle keep-alive connections end now
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeHetzner:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeHetzner is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>/v1`, as `https://api.hetzner.cloud/v1`."""
        return f"http://127.0.0.1:{self.port}/v1"

    # -- the servers ----------------------------------------------------------------------------

    def add_server(self, name: str, **fields: Any) -> int:
        """A new server (FakeServer's fields: `status`, `ipv4`, `cores`, `memory`, `disk`, ...);
        its id."""
        _check_status(fields)
        with self._lock:
            server = FakeServer(id=next(self._ids), name=name, **fields)
            self._servers[server.id] = server
            return server.id

    def change_server(self, server_id: int, **fields: Any) -> None:
        _check_status(fields)
        with self._lock:
            self._servers[server_id] = replace(self._servers[server_id], **fields)

    def remove_server(self, server_id: int) -> None:
        with self._lock:
            del self._servers[server_id]

    @property
    def servers(self) -> list[FakeServer]:
        with self._lock:
            return sorted(self._servers.values(), key=lambda server: server.id)

    # -- records and switches -------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, oldest first."""
        with self._lock:
            return list(self._requests)

    def fail_next(self, n: int = 1, *, status: int = 503) -> None:
        """Answer the next `n` calls with `status` and Hetzner's error body."""
        with self._lock:
            self._failures.extend([status] * n)

    # -- the API --------------------------------------------------------------------------------

    def _answer(self, method: str, target: str, authorization: str | None) -> _Reply:
        scheme, _, given = (authorization or "").partition(" ")
        bearer = scheme.lower() == "bearer"
        authorized = bearer and secrets.compare_digest(
            given.strip().encode(errors="replace"), self.token.encode()
        )
        record = RecordedRequest(method, target, authorized=authorized, bearer=bearer)
        with self._lock:
            self._requests.append(record)
            failure = self._failures.pop(0) if self._failures else None
        reply = self._route(method, target, authorized, failure)
        record.status = reply.status
        return reply

    def _route(self, method: str, target: str, authorized: bool, failure: int | None) -> _Reply:
        if failure is not None:
            return _error(failure)
        if not authorized:
            return _error(401)
        parts = urlsplit(target)
        path = parts.path.rstrip("/")
        if path == "/v1/servers":
            return self._list(parts.query) if method == "GET" else _error(405)
        prefix = "/v1/servers/"
        if path.startswith(prefix) and path[len(prefix) :].isdigit():
            if method != "GET":
                return _error(405)
            with self._lock:
                found = self._servers.get(int(path[len(prefix) :]))
            if found is None:
                return _error(404, "server not found")
            return _Reply(200, {"server": found.as_json()})
        return _error(404)

    def _list(self, query: str) -> _Reply:
        params = {key: values[-1] for key, values in parse_qs(query).items()}
        try:
            page = int(params.get("page", "1"))
            per_page = int(params.get("per_page", str(DEFAULT_PER_PAGE)))
        except ValueError:
            return _error(400, "invalid input in fields 'page', 'per_page'")
        if page < 1 or per_page < 1:
            return _error(400, "invalid input in fields 'page', 'per_page'")
        per_page = min(per_page, MAX_PER_PAGE)
        chosen = [
            server
            for server in self.servers
            if params.get("name") in (None, server.name)
            and params.get("status") in (None, server.status)
        ]
        last_page = max(1, -(-len(chosen) // per_page))
        shown = chosen[(page - 1) * per_page : page * per_page]
        pagination = {
            "page": page,
            "per_page": per_page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page < last_page else None,
            "last_page": last_page,
            "total_entries": len(chosen),
        }
        return _Reply(
            200,
            {"servers": [server.as_json() for server in shown], "meta": {"pagination": pagination}},
        )


def _check_status(fields: dict[str, Any]) -> None:
    if fields.get("status", "running") not in STATUSES:
        raise ValueError(f"Hetzner has no server status {fields['status']!r}")


def _error(status: int, message: str | None = None) -> _Reply:
    code = ERROR_CODES.get(status, "server_error" if status >= 500 else "invalid_input")
    text = message or ERROR_MESSAGES.get(status) or code.replace("_", " ")
    return _Reply(status, {"error": {"code": code, "message": text, "details": {}}})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeHetzner


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeHetzner/1.0"
    timeout = 60

    @property
    def fake(self) -> FakeHetzner:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.fake._lock:
                self.fake._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the records are in `FakeHetzner.requests`."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 0:
            self.rfile.read(length)
        reply = self.fake._answer(self.command, self.path, self.headers.get("Authorization"))
        data = json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("RateLimit-Limit", str(RATE_LIMIT))
        self.send_header("RateLimit-Remaining", str(RATE_LIMIT - 1))
        self.send_header("RateLimit-Reset", "1767225600")
        self.end_headers()
        self.wfile.write(data)
