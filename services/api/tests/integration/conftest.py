"""The API as a black box: the real app over a real, migrated PostgreSQL database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio
from api.admin_cli import create_admin_and_key
from api.app import create_app
from api.config import ApiSettings
from api_testing import ClientFactory, FirstAdmin, NewUser, UserSession, ok, unique
from fastapi import FastAPI


@pytest.fixture
def settings(api_database_url: str) -> ApiSettings:
    return ApiSettings(database_url=api_database_url, port_range_start=20000, port_range_end=20099)


@pytest_asyncio.fixture
async def app(settings: ApiSettings) -> AsyncIterator[FastAPI]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest_asyncio.fixture
async def first_admin(settings: ApiSettings) -> FirstAdmin:
    result = await create_admin_and_key(
        settings.database_url, admin_username="admin", admin_telegram_id=None, new_key=False
    )
    return FirstAdmin(result["admin_user_id"], result["service_key"])


@pytest_asyncio.fixture
async def client_for(app: FastAPI) -> AsyncIterator[ClientFactory]:
    """Clients of the app, each with its own key (or none)."""
    clients: list[httpx.AsyncClient] = []

    def make(key: str | None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api", headers=headers
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


@pytest.fixture
def service(client_for: ClientFactory, first_admin: FirstAdmin) -> httpx.AsyncClient:
    return client_for(first_admin.service_key)


@pytest.fixture
def new_user(service: httpx.AsyncClient, client_for: ClientFactory) -> NewUser:
    """A fresh user and a client holding a user-scoped key for them."""

    async def make() -> UserSession:
        user = await ok(service.post("/api/users", json={"username": unique("user")}), 201)
        key = await ok(
            service.post(
                "/api/api-keys",
                json={
                    "name": "worker",
                    "principal": "user",
                    "user_id": user["id"],
                    "ttl_seconds": 3600,
                },
            ),
            201,
        )
        return UserSession(user["id"], key["id"], client_for(key["key"]))

    return make
