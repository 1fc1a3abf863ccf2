"""A refused connection never reached the API, so the CLI tries again (the API may be
restarting); anything else that might have reached it is not tried again."""

from __future__ import annotations

import socket
import urllib.request
from typing import Any

import pytest
from orchestrator_cli.api_client import HttpApi
from orchestrator_cli.errors import ApiUnavailable


class Flaky(HttpApi):
    def __init__(self, failures: list[ApiUnavailable], **options: Any) -> None:
        super().__init__("http://127.0.0.1:9", "key", 1, first_retry_s=0, **options)
        self.failures = failures
        self.sent = 0

    def _send(self, request: urllib.request.Request, method: str, path: str) -> Any:
        self.sent += 1
        if self.failures:
            raise self.failures.pop(0)
        return {"ok": True}


def refused() -> ApiUnavailable:
    error = ApiUnavailable("refused", {})
    error.refused = True
    return error


def test_a_request_refused_while_the_api_restarts_goes_through_when_it_is_back() -> None:
    api = Flaky([refused(), refused()])

    assert api.get("/api/tasks") == {"ok": True}
    assert api.sent == 3


def test_a_request_that_may_have_reached_the_api_is_not_sent_again() -> None:
    api = Flaky([ApiUnavailable("timed out", {})])

    with pytest.raises(ApiUnavailable, match="timed out"):
        api.post("/api/projects", {"name": "x"})
    assert api.sent == 1


def test_an_api_that_stays_down_is_reported_after_the_retries() -> None:
    api = Flaky([refused() for _ in range(10)], refused_retries=3)

    with pytest.raises(ApiUnavailable):
        api.get("/api/tasks")
    assert api.sent == 4


def test_a_real_refused_connection_is_recognised_as_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: connections are refused
        api = HttpApi(f"http://127.0.0.1:{port}", "key", 1, refused_retries=0)
        with pytest.raises(ApiUnavailable) as caught:
            api.get("/health")
    assert caught.value.refused
