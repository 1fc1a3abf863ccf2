"""A real API for other cubes' tests (pytest plugin `codegen_api`, registered by this package).

Fixtures:
- `migrated_template`: the name of a database migrated to head, copied by the others;
- `api_database_url`: a fresh, migrated database for this test;
- `live_api`: the API served by uvicorn on a free loopback port over that database, with
  an admin user and a service key (as `api-create-admin` makes them).
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
import uvicorn
from shared.testing.servers import Databases
from shared.testing.waiting import until

from api.admin_cli import create_admin_and_key
from api.app import create_app
from api.config import ApiSettings
from api.migrations import upgrade


@dataclass(frozen=True)
class LiveApi:
    url: str
    service_key: str
    admin_user_id: str
    database_url: str


@contextmanager
def serve_api(settings: ApiSettings) -> Iterator[str]:
    """Serve the API in a background thread; yields its base URL."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        until(lambda: server.started or not thread.is_alive(), within=30, interval=0.01)
        if not server.started:
            raise RuntimeError("the API did not start")
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(scope="session")
def migrated_template(databases: Databases) -> Iterator[str]:
    url = databases.create()
    upgrade(url)
    try:
        yield url.rpartition("/")[2]
    finally:
        databases.drop(url)


@pytest.fixture
def api_database_url(databases: Databases, migrated_template: str) -> Iterator[str]:
    url = databases.create(template=migrated_template)
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture
def live_api(api_database_url: str) -> Iterator[LiveApi]:
    result = asyncio.run(
        create_admin_and_key(
            api_database_url, admin_username="admin", admin_telegram_id=None, new_key=False
        )
    )
    with serve_api(ApiSettings(database_url=api_database_url)) as url:
        yield LiveApi(url, result["service_key"], result["admin_user_id"], api_database_url)
