"""Structured logging: JSON in production, readable console locally, secrets redacted.

Logs go to stderr so that a program's stdout stays its own (the orchestrator CLI prints JSON there).
"""

from __future__ import annotations

import itertools
import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

REDACTED = "[REDACTED]"
_SECRET_WORDS = frozenset(
    {
        "token",
        "password",
        "passwd",
        "secret",
        "authorization",
        "credential",
        "credentials",
        "cookie",
        "apikey",
        "api_key",
        "private_key",
        "dsn",
    }
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
# Hostile text reaches the logs (a stream entry's value quoted in an error), so every pattern
# runs in linear time: a match may only start where a run of its characters starts (the
# lookbehinds), never at each position inside one.
_BEARER = re.compile(r"(?i)\b(bearer|token|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
_URL_PASSWORD = re.compile(
    r"(?<![a-z0-9+.-])(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@"
)
_ASSIGNED_SECRET = re.compile(
    r"(?i)(?<![\w.-])(?P<key>[\w.-]*(?:password|passwd|secret|token|api[_-]?key|private[_-]?key))"
    r"(?P<sep>\s*[=:]\s*)(?P<quote>[\"']?)[^\s\"'&,;]+"
)
# A log line carries at most this much of any one text; the rest is counted, not written.
MAX_TEXT = 8192


def is_secret_key(key: str) -> bool:
    """`github_token`, `DB_PASSWORD`, `apiKey` are secret; `tokens_used`, `secrets_ref` are not."""
    words = re.split(r"[_\-.\s]+", _CAMEL.sub("_", key).lower())
    pairs = {f"{a}_{b}" for a, b in itertools.pairwise(words)}
    return bool(_SECRET_WORDS.intersection(words) or _SECRET_WORDS.intersection(pairs))


def scrub_text(text: str) -> str:
    """Hide credentials inside free text: bearer tokens, URL passwords, `password=…` pairs."""
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    text = _ASSIGNED_SECRET.sub(
        lambda m: f"{m.group('key')}{m.group('sep')}{m.group('quote')}{REDACTED}", text
    )
    return _URL_PASSWORD.sub(lambda m: f"{m.group('scheme')}{m.group('user')}:{REDACTED}@", text)


def shortened(text: str, limit: int = MAX_TEXT) -> str:
    """`text`, cut after `limit` characters with a note of how many were left out."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… [{len(text) - limit} more characters]"


def redact(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_key(k) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v) for v in value)
    if isinstance(value, str):
        # Scrubbed whole, then cut: a cut first could split a secret past recognition.
        return shortened(scrub_text(value))
    return value


def redact_secrets(_: WrappedLogger, __: str, event_dict: EventDict) -> EventDict:
    """structlog processor: secret-looking keys lose their values, anywhere in the event."""
    redacted: MutableMapping[str, Any] = redact(event_dict)
    return dict(redacted)


class _CurrentStderr:
    """Whatever sys.stderr is when a line is written (it may be replaced after configuration)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(service: str, *, json: bool, level: str = "INFO") -> None:
    """Configure structlog (and the standard library's logging) for one process."""
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Processor = (
        structlog.processors.JSONRenderer()
        if json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    numeric_level = logging.getLevelName(level.upper())
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.PrintLoggerFactory(_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared[:-2], structlog.stdlib.add_logger_name, *shared[-2:]],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # One line per HTTP request drowns what the services say; their failures still show.
    for chatty in ("httpx", "httpcore"):
        logging.getLogger(chatty).setLevel(max(numeric_level, logging.WARNING))
