"""Scripted fake of the Anthropic Messages API, good enough for the real Claude Code CLI.

Pure standard library (asyncio streams).  Point the CLI at it with
``ANTHROPIC_BASE_URL=http://127.0.0.1:<port>`` and any ``ANTHROPIC_API_KEY``.

The server is constructed with a list of *turns*.  Every **main** ``POST
/v1/messages`` consumes the next turn and gets it back as SSE (``"stream": true``,
what the CLI uses) or as plain JSON.  A turn is a :class:`ToolUse`, a
:class:`Text`, or a list of them (several blocks in one assistant message).
``turns`` may be extended between CLI runs (e.g. before a ``--resume``).  Once the
script is exhausted, main requests get :data:`EXHAUSTED_TEXT` and ``exhausted``
is set, so a test can fail loudly instead of hanging.

Main vs side requests (:func:`default_is_main`, override with ``is_main=``): the
CLI's conversation requests always carry a non-empty ``tools`` list; side requests
(session-title generation, which sends ``"tools": []`` plus a JSON-schema
``output_config.format``; quota / prefix probes with ``max_tokens=1``) do not.
Model names are *not* a reliable signal: 2.1.197 sends titles with the main model.
Side requests never consume a turn; they get ``side_text`` (or, if a JSON schema
is requested, a stub object filled with ``side_text``).  Note that sub-agent
requests (Agent tool) also carry tools and therefore consume turns; only the
top-level conversation sends ``context_management``.

Every request (any method/path) is recorded in :attr:`FakeAnthropic.requests`.
Other endpoints: ``HEAD /`` (the CLI's connectivity probe) -> 200, ``POST
/v1/messages/count_tokens`` -> ``{"input_tokens": n}``, ``GET /v1/models`` -> a
small model list, anything else -> 404 with an Anthropic-style error body.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["FakeAnthropic", "RecordedRequest", "Text", "ToolUse", "Turn", "default_is_main"]

EXHAUSTED_TEXT = "[fake-anthropic] script exhausted: no more scripted turns."
MODELS = ["claude-opus-4-8", "claude-sonnet-4-5", "claude-haiku-4-5"]


@dataclass(frozen=True)
class ToolUse:
    """Assistant asks the CLI to run tool ``name`` (e.g. ``"Bash"``, ``"Write"``) with ``input``."""

    name: str
    input: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True)
class Text:
    """Assistant replies with plain text (a final answer unless combined with a ToolUse)."""

    text: str


Turn = ToolUse | Text | list[ToolUse | Text]


@dataclass
class RecordedRequest:
    """One HTTP request as received.  ``body`` is parsed JSON (or raw text / None)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Any
    is_main: bool = False
    turn_index: int | None = None  # which scripted turn answered it (main requests only)

    def text(self) -> str:
        """The whole body as a JSON string, handy for ``"needle" in req.text()``."""
        return self.body if isinstance(self.body, str) else json.dumps(self.body)


def default_is_main(body: dict[str, Any]) -> bool:
    """Main conversation (and sub-agent) requests carry tools; side requests don't."""
    return bool(body.get("tools")) and int(body.get("max_tokens") or 0) > 1


def _schema_stub(schema: dict[str, Any], text: str) -> Any:
    """Smallest value matching a JSON schema (for structured-output side requests, e.g. titles)."""
    kind = schema.get("type")
    if kind == "object":
        return {k: _schema_stub(v, text) for k, v in schema.get("properties", {}).items()}
    return {"string": text, "number": 0, "integer": 0, "boolean": False, "array": []}.get(str(kind))


def _blocks(turn: Turn, ids: itertools.count[int]) -> list[dict[str, Any]]:
    """Render a turn as Anthropic content blocks."""
    out: list[dict[str, Any]] = []
    for part in turn if isinstance(turn, list) else [turn]:
        if isinstance(part, ToolUse):
            tid = part.id or f"toolu_fake_{next(ids):04d}"
            out.append({"type": "tool_use", "id": tid, "name": part.name, "input": part.input})
        else:
            out.append({"type": "text", "text": part.text})
    return out


def _sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _stream_events(message: dict[str, Any]) -> bytes:
    """Serialise a complete message as the SSE event sequence the SDK expects."""
    start = dict(
        message,
        content=[],
        stop_reason=None,
        stop_sequence=None,
        usage=dict(message["usage"], output_tokens=1),
    )
    out = _sse("message_start", {"type": "message_start", "message": start})
    for i, block in enumerate(message["content"]):
        if block["type"] == "tool_use":
            empty = dict(block, input={})
            payload = json.dumps(block["input"])
            deltas = [
                {"type": "input_json_delta", "partial_json": payload[j : j + 64]}
                for j in range(0, len(payload), 64)
            ]
        else:
            empty, deltas = (
                {"type": "text", "text": ""},
                [{"type": "text_delta", "text": block["text"]}],
            )
        out += _sse(
            "content_block_start",
            {"type": "content_block_start", "index": i, "content_block": empty},
        )
        for d in deltas:
            out += _sse(
                "content_block_delta", {"type": "content_block_delta", "index": i, "delta": d}
            )
        out += _sse("content_block_stop", {"type": "content_block_stop", "index": i})
    out += _sse(
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
            "usage": {"output_tokens": message["usage"]["output_tokens"]},
        },
    )
    return out + _sse("message_stop", {"type": "message_stop"})


class FakeAnthropic:
    """Scripted Anthropic API server.  Use ``async with`` or :meth:`start_in_thread`."""

    def __init__(
        self,
        turns: list[Turn],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        side_text: str = "OK",
        is_main: Callable[[dict[str, Any]], bool] = default_is_main,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.turns: list[Turn] = list(turns)
        self.host, self.port = host, port
        self.side_text = side_text
        self.is_main = is_main
        self.log = log
        self.requests: list[RecordedRequest] = []
        self.exhausted = False
        self._next_turn = 0
        self._ids = itertools.count(1)
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # ---- inspection helpers -------------------------------------------------
    @property
    def base_url(self) -> str:
        """Value for ``ANTHROPIC_BASE_URL``."""
        return f"http://{self.host}:{self.port}"

    @property
    def main_requests(self) -> list[RecordedRequest]:
        """Main-conversation ``/v1/messages`` requests, in arrival order."""
        return [r for r in self.requests if r.is_main]

    @property
    def side_requests(self) -> list[RecordedRequest]:
        """``/v1/messages`` requests that did not consume a turn."""
        return [r for r in self.requests if r.path == "/v1/messages" and not r.is_main]

    @property
    def remaining_turns(self) -> int:
        """Scripted turns not consumed yet."""
        return len(self.turns) - self._next_turn

    # ---- lifecycle ----------------------------------------------------------
    async def start(self) -> None:
        """Bind (port 0 = pick a free port) and start serving on the running loop."""
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening (recorded requests stay available)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> FakeAnthropic:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> FakeAnthropic:
        """Serve from a daemon thread (for synchronous tests); returns once bound."""
        ready = threading.Event()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="fake-anthropic", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Anthropic server failed to start")
        return self

    def stop_thread(self) -> None:
        """Counterpart of :meth:`start_in_thread`."""
        if self._loop and self._thread:
            asyncio.run_coroutine_threadsafe(self.stop(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()
            self._loop = self._thread = None

    def __enter__(self) -> FakeAnthropic:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.stop_thread()

    # ---- HTTP ---------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One connection; loops for HTTP/1.1 keep-alive until the client closes."""
        try:
            while True:
                line = await reader.readline()
                if not line.strip():
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while h := (await reader.readline()).decode("latin-1").rstrip("\r\n"):
                    k, _, v = h.partition(":")
                    headers[k.strip().lower()] = v.strip()
                raw = await self._read_body(reader, headers)
                url = urlsplit(target)
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                rec = RecordedRequest(method, url.path, url.query, headers, body)
                self.requests.append(rec)
                status, ctype, payload = self._route(rec, len(raw))
                if self.log:
                    self.log(
                        f"{method} {target} -> {status} main={rec.is_main} turn={rec.turn_index}"
                    )
                streaming = ctype == "text/event-stream"
                head = [
                    f"HTTP/1.1 {status}",
                    f"content-type: {ctype}",
                    f"request-id: req_fake_{len(self.requests)}",
                ]
                head += (
                    ["cache-control: no-cache", "connection: close"]
                    if streaming
                    else [f"content-length: {len(payload)}"]
                )
                writer.write(
                    ("\r\n".join(head) + "\r\n\r\n").encode()
                    + (b"" if method == "HEAD" else payload)
                )
                await writer.drain()
                if streaming:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    @staticmethod
    async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if "chunked" in headers.get("transfer-encoding", ""):
            chunks = b""
            while size := int((await reader.readline()).split(b";")[0], 16):
                chunks += await reader.readexactly(size)
                await reader.readline()
            await reader.readline()
            return chunks
        return await reader.readexactly(int(headers.get("content-length", 0)))

    def _route(self, rec: RecordedRequest, size: int) -> tuple[str, str, bytes]:
        """Return (status line, content type, payload) for a recorded request."""
        js = "application/json"
        if rec.method == "HEAD" or (rec.method == "GET" and rec.path == "/"):
            return "200 OK", js, b"{}"
        if rec.method == "POST" and rec.path == "/v1/messages/count_tokens":
            return "200 OK", js, json.dumps({"input_tokens": max(1, size // 4)}).encode()
        if rec.method == "GET" and rec.path == "/v1/models":
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in MODELS
            ]
            return (
                "200 OK",
                js,
                json.dumps(
                    {"data": data, "has_more": False, "first_id": MODELS[0], "last_id": MODELS[-1]}
                ).encode(),
            )
        if rec.method == "POST" and rec.path == "/v1/messages" and isinstance(rec.body, dict):
            message = self._reply(rec, size)
            if rec.body.get("stream"):
                return "200 OK", "text/event-stream", _stream_events(message)
            return "200 OK", js, json.dumps(message).encode()
        err = {
            "type": "error",
            "error": {"type": "not_found_error", "message": f"{rec.method} {rec.path}"},
        }
        return "404 Not Found", js, json.dumps(err).encode()

    def _reply(self, rec: RecordedRequest, size: int) -> dict[str, Any]:
        """The assistant message: the next scripted turn for a main request, else side_text."""
        body: dict[str, Any] = rec.body
        rec.is_main = self.is_main(body)
        fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
        turn: Turn = Text(self.side_text)
        if fmt.get("type") == "json_schema":
            turn = Text(json.dumps(_schema_stub(fmt.get("schema", {}), self.side_text)))
        if rec.is_main:
            if self._next_turn < len(self.turns):
                rec.turn_index, turn = self._next_turn, self.turns[self._next_turn]
                self._next_turn += 1
            else:
                self.exhausted, turn = True, Text(EXHAUSTED_TEXT)
        content = _blocks(turn, self._ids)
        stop = "tool_use" if any(b["type"] == "tool_use" for b in content) else "end_turn"
        return {
            "id": f"msg_fake_{len(self.requests):04d}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", MODELS[0]),
            "content": content,
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {
                "input_tokens": max(1, size // 4),
                "output_tokens": max(1, len(json.dumps(content)) // 4),
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
            },
        }
