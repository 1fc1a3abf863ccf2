"""Scripted fake of the OpenAI Responses API, enough to drive the real Codex CLI offline.

Pure standard library (asyncio).  Every ``POST .../responses`` consumes the next
scripted turn and answers it with a Server-Sent-Events stream in the Responses
format; codex sends one such request per model step (a tool call's output comes
back in the next request's ``input`` as a ``function_call_output`` or
``custom_tool_call_output`` item).  Every request (method, path, headers, body)
is recorded.  Verified against ``@openai/codex`` 0.171.0 (``codex exec --json``).

Point codex at it with a custom model provider, either ``codex_config_args()``
(``-c`` flags) or ``codex_config_toml()`` (``$CODEX_HOME/config.toml``).  A
custom provider talks plain HTTP + SSE: no WebSocket attempt, no ``/models`` call.

    with FakeOpenAI([ShellCall("echo hi > a.txt"), Message("Done.")]) as fake:
        subprocess.run([codex, "exec", "--json", "-s", "danger-full-access",
                        *fake.codex_config_args(), "go"], stdin=subprocess.DEVNULL, ...)
        assert fake.tool_outputs()[0]["call_id"] == "call_1"
"""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import threading
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Message:
    """A final assistant message: codex ends the turn after it."""

    text: str


@dataclass(frozen=True)
class ShellCall:
    """A call of codex's shell tool, ``exec_command`` (unified exec); ``cmd`` runs in bash -lc."""

    cmd: str
    workdir: str | None = None
    yield_time_ms: int = 10_000

    def arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {"cmd": self.cmd, "yield_time_ms": self.yield_time_ms}
        if self.workdir is not None:
            args["workdir"] = self.workdir
        return args


@dataclass(frozen=True)
class ApplyPatch:
    """A call of the freeform (``custom``) ``apply_patch`` tool; ``patch`` is raw patch text."""

    patch: str


@dataclass(frozen=True)
class FunctionCall:
    """Any other JSON function tool call, e.g. ``FunctionCall("write_stdin", {...})``."""

    name: str
    arguments: dict[str, Any]


Turn = Message | ShellCall | ApplyPatch | FunctionCall


@dataclass
class RecordedRequest:
    """One HTTP request as the server received it (a gzip body is already decompressed)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class FakeOpenAI:
    """The scripted server: ``with FakeOpenAI(turns) as fake:`` (own thread) or ``async with``."""

    turns: list[Turn]
    host: str = "127.0.0.1"
    port: int = 0  # 0 = pick a free port; the real one is set once listening
    model: str = "gpt-5.5"  # a slug from codex's catalog: known tools, no metadata warning
    usage: dict[str, int] = field(
        default_factory=lambda: {
            "input_tokens": 100,
            "cached_tokens": 0,
            "output_tokens": 20,
            "reasoning_tokens": 0,
        }
    )
    requests: list[RecordedRequest] = field(default_factory=list)
    _pending: list[Turn] = field(default_factory=list, init=False)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1), init=False)
    _server: asyncio.Server | None = field(default=None, init=False)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set, init=False)
    _loop: asyncio.AbstractEventLoop | None = field(default=None, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    # ----- lifecycle -------------------------------------------------------------
    async def __aenter__(self) -> FakeOpenAI:
        self._pending = list(self.turns)
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
            for writer in list(self._writers):
                writer.close()
            await self._server.wait_closed()
            self._server = None

    def start(self) -> FakeOpenAI:
        """Serve from a daemon thread with its own event loop; return once listening."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            try:
                loop.run_until_complete(self.__aenter__())
            except BaseException as exc:  # e.g. port in use: re-raised in start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self.__aexit__())
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ----- what a test needs ----------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def remaining_turns(self) -> int:
        return len(self._pending)

    def codex_config_args(self, provider: str = "fake") -> list[str]:
        """``-m``/``-c`` flags for ``codex exec``: this server as model provider, no
        retries, and no outbound lookups (analytics -> ab.chatgpt.com, plugins ->
        github.com/chatgpt.com; both fail harmlessly offline but are off here)."""
        table = (
            f'{{name="{provider}",base_url="{self.base_url}",wire_api="responses",'
            f'env_key="OPENAI_API_KEY",request_max_retries=0,stream_max_retries=0}}'
        )
        return [
            "-m",
            self.model,
            "-c",
            f"model_provider={provider}",
            "-c",
            f"model_providers.{provider}={table}",
            "-c",
            "analytics.enabled=false",
            "-c",
            "features.plugins=false",
        ]

    def codex_config_toml(self, provider: str = "fake") -> str:
        """Same settings as ``codex_config_args``, as ``$CODEX_HOME/config.toml`` text."""
        return (
            f'model = "{self.model}"\nmodel_provider = "{provider}"\n\n'
            f'[model_providers.{provider}]\nname = "{provider}"\n'
            f'base_url = "{self.base_url}"\nwire_api = "responses"\n'
            'env_key = "OPENAI_API_KEY"\nrequest_max_retries = 0\nstream_max_retries = 0\n\n'
            "[analytics]\nenabled = false\n\n[features]\nplugins = false\n"
        )

    def response_requests(self) -> list[dict[str, Any]]:
        """JSON bodies of all ``POST .../responses`` requests, in order."""
        return [
            r.json()
            for r in self.requests
            if r.method == "POST" and r.path.split("?")[0].rstrip("/").endswith("/responses")
        ]

    def tool_outputs(self, request_index: int = -1) -> list[dict[str, Any]]:
        """The ``*_call_output`` input items of one responses request (default: the last)."""
        body = self.response_requests()[request_index]
        return [
            i
            for i in body.get("input", [])
            if isinstance(i, dict) and str(i.get("type", "")).endswith("call_output")
        ]

    # ----- HTTP/1.1 --------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await self._serve_one(reader, writer):
                pass
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _serve_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Read and answer one request; return whether the connection stays open."""
        line = await reader.readline()
        if not line.strip():
            return False
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
            key, _, value = h.decode("latin-1").partition(":")
            headers[key.strip().lower()] = value.strip()
        body = await _read_body(reader, headers)
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        request = RecordedRequest(method, path, headers, body)
        self.requests.append(request)
        status, ctype, payload = self._route(request)
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(payload)}\r\nCache-Control: no-cache\r\n\r\n".encode()
            + payload
        )
        await writer.drain()
        return headers.get("connection", "").lower() != "close"

    def _route(self, req: RecordedRequest) -> tuple[str, str, bytes]:
        route = req.path.split("?")[0].rstrip("/")
        if req.method == "POST" and route.endswith("/responses"):
            if not self._pending:  # 4xx: codex fails the turn at once instead of retrying
                return _json_error("400 Bad Request", "fake_openai: no scripted turn left")
            return "200 OK", "text/event-stream", self._sse(self._pending.pop(0))
        if req.method == "GET" and route.endswith("/models"):  # not called by 0.171 here
            data = [{"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}]
            return (
                "200 OK",
                "application/json",
                json.dumps({"object": "list", "data": data, "models": []}).encode(),
            )
        # Includes WebSocket upgrades (GET /responses), which only the built-in provider tries.
        return _json_error("404 Not Found", f"fake_openai: no route {req.method} {route}")

    # ----- Responses stream -----------------------------------------------------
    def _output_item(self, turn: Turn, n: int) -> dict[str, Any]:
        """The one output item a scripted turn produces."""
        if isinstance(turn, Message):
            content = [{"type": "output_text", "text": turn.text, "annotations": []}]
            return {
                "type": "message",
                "id": f"msg_{n}",
                "role": "assistant",
                "status": "completed",
                "content": content,
            }
        if isinstance(turn, ApplyPatch):
            return {
                "type": "custom_tool_call",
                "id": f"ctc_{n}",
                "call_id": f"call_{n}",
                "name": "apply_patch",
                "input": turn.patch,
                "status": "completed",
            }
        name, args = (
            ("exec_command", turn.arguments())
            if isinstance(turn, ShellCall)
            else (turn.name, turn.arguments)
        )
        return {
            "type": "function_call",
            "id": f"fc_{n}",
            "call_id": f"call_{n}",
            "name": name,
            "arguments": json.dumps(args),
            "status": "completed",
        }

    def _sse(self, turn: Turn) -> bytes:
        """The full SSE body for one turn: created, item added/(delta)/done, completed."""
        n = next(self._ids)
        resp = {"id": f"resp_{n}", "object": "response", "model": self.model}
        item = self._output_item(turn, n)
        started = {**item, "status": "in_progress"}
        if item["type"] == "message":
            started["content"] = []
        events: list[dict[str, Any]] = [
            {"type": "response.created", "response": {**resp, "status": "in_progress"}},
            {"type": "response.output_item.added", "output_index": 0, "item": started},
        ]
        if isinstance(turn, Message):
            events.append(
                {
                    "type": "response.output_text.delta",
                    "item_id": item["id"],
                    "output_index": 0,
                    "content_index": 0,
                    "delta": turn.text,
                }
            )
        u = self.usage
        usage = {
            "input_tokens": u["input_tokens"],
            "input_tokens_details": {"cached_tokens": u["cached_tokens"]},
            "output_tokens": u["output_tokens"],
            "output_tokens_details": {"reasoning_tokens": u["reasoning_tokens"]},
            "total_tokens": u["input_tokens"] + u["output_tokens"],
        }
        events += [
            {"type": "response.output_item.done", "output_index": 0, "item": item},
            {
                "type": "response.completed",
                "response": {**resp, "status": "completed", "output": [item], "usage": usage},
            },
        ]
        return b"".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n".encode() for e in events)


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    """Read a request body framed by Content-Length or by chunked transfer encoding."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        chunks: list[bytes] = []
        while size := int((await reader.readline()).split(b";")[0].strip() or b"0", 16):
            chunks.append(await reader.readexactly(size))
            await reader.readline()
        while (await reader.readline()) not in (b"\r\n", b"\n", b""):
            pass  # trailers
        return b"".join(chunks)
    return await reader.readexactly(int(headers.get("content-length", "0")))


def _json_error(status: str, message: str) -> tuple[str, str, bytes]:
    body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
    return status, "application/json", json.dumps(body).encode()
