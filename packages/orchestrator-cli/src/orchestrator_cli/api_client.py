"""The API over HTTP, with the standard library: importing an HTTP client library would cost
more start-up time than every request it sends."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from orchestrator_cli.errors import ApiError, ApiUnavailable, Conflict, InvalidArguments, NotFound

# A refused connection never reached the API, so any request may be tried again: the API may be
# restarting. Waits between tries: 0.25 s doubling, about 15 s in all.
REFUSED_RETRIES = 6
FIRST_RETRY_S = 0.25


class HttpApi:
    def __init__(
        self,
        base_url: str,
        key: str,
        timeout_s: float,
        *,
        refused_retries: int = REFUSED_RETRIES,
        first_retry_s: float = FIRST_RETRY_S,
    ) -> None:
        self._base_url = base_url
        self._key = key
        self._timeout_s = timeout_s
        self._refused_retries = refused_retries
        self._first_retry_s = first_retry_s

    def get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        if query:
            path = f"{path}?{urllib.parse.urlencode(query)}"
        return self._request("GET", path)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("POST", path, body)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self._request("PATCH", path, body)

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - the URL is the configured API
            self._base_url + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self._key}",
                "Content-Type": "application/json",
                "Accept": "application/json",
            },
        )
        delay = self._first_retry_s
        for _ in range(self._refused_retries):
            try:
                return self._send(request, method, path)
            except ApiUnavailable as exc:
                if not exc.refused:
                    raise
            time.sleep(delay)
            delay *= 2
        return self._send(request, method, path)

    def _send(self, request: urllib.request.Request, method: str, path: str) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as exc:
            raise _api_error(exc.code, exc.read(), method, path) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            unavailable = ApiUnavailable(
                f"the API at {self._base_url} is unreachable: {reason}",
                {"api_url": self._base_url},
            )
            unavailable.refused = isinstance(reason, ConnectionRefusedError)
            raise unavailable from None
        return json.loads(raw) if raw else None


def _api_error(status: int, raw: bytes, method: str, path: str) -> Exception:
    try:
        body = json.loads(raw)
    except ValueError:
        body = {"message": raw.decode(errors="replace")[:500]}
    message = body.get("message") if isinstance(body, dict) else None
    details = {"status": status, "request": f"{method} {path.split('?')[0]}", "response": body}
    text = message or f"the API answered {status}"
    if status == 404:
        return NotFound(text, details)
    if status == 409:
        return Conflict(text, details)
    if status == 422:
        return InvalidArguments(text, details)
    return ApiError(text, details)
