"""Helpers for the API's tests (on pytest's pythonpath as `api_testing`)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class FirstAdmin:
    admin_user_id: str
    service_key: str


ClientFactory = Callable[[str | None], httpx.AsyncClient]


@dataclass
class UserSession:
    user_id: str
    key_id: str
    client: httpx.AsyncClient


NewUser = Callable[[], Awaitable[UserSession]]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def ok(response: Awaitable[httpx.Response], status: int = 200) -> Any:
    """The JSON body of a response that must have the given status."""
    answered = await response
    assert answered.status_code == status, answered.text
    return answered.json()


async def make_project(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("app"), "modules": ["backend"], **fields}
    project: dict[str, Any] = await ok(client.post("/api/projects", json=body), 201)
    return project


async def make_server(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    body = {"name": unique("srv"), "address": "127.0.0.1", **fields}
    server: dict[str, Any] = await ok(client.post("/api/servers", json=body), 201)
    return server
