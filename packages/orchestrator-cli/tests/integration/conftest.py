"""The CLI against the real API (uvicorn over real Postgres) and a real Redis."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from api.testing import LiveApi
from cli_testing import Worker
from orchestrator_cli.main import run


@pytest.fixture
def make_worker(live_api: LiveApi, redis_url: str) -> Callable[..., Worker]:
    counter = iter(range(1000))

    def make(allowed: str | None = "PRODUCT_OWNER", **overrides: str) -> Worker:
        with httpx.Client(
            base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
        ) as api:
            n = next(counter)
            user = api.post("/api/users", json={"username": f"worker-user-{n}"}).json()
            key = api.post(
                "/api/api-keys",
                json={
                    "name": "worker",
                    "principal": "user",
                    "user_id": user["id"],
                    "ttl_seconds": 600,
                },
            )
        env = {
            "API_URL": live_api.url,
            "API_KEY": key.json()["key"],
            "REDIS_URL": redis_url,
            "USER_ID": user["id"],
            "WORKER_ID": f"po-{n}",
            "ORCHESTRATOR_HTTP_TIMEOUT": "5",
        }
        if allowed is not None:
            env["ALLOWED_COMMANDS"] = allowed
        env.update(overrides)
        return Worker(env, user["id"], live_api)

    return make


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[dict[str, Any], int]]:
    """Run the CLI in-process with a worker's environment; returns (parsed stdout, exit code)."""

    def invoke(worker: Worker, *argv: str) -> tuple[dict[str, Any], int]:
        for name in ("ALLOWED_COMMANDS", "REQUEST_ID", "CORRELATION_ID"):
            monkeypatch.delenv(name, raising=False)
        for name, value in worker.env.items():
            monkeypatch.setenv(name, value)
        outcome = run(list(argv))
        import json

        return json.loads(outcome.render()), outcome.exit_code

    return invoke
