"""telegram-bot as its own process against the fake Telegram Bot API, with the real API, Redis
and (in test_po_workers.py) worker-manager.

Importing aiogram's types takes seconds, so a module's tests share one bot process (and the fake
Telegram, the API and the Redis it uses): each test talks as users of its own, and the module's
tests run in one event loop (`pytestmark = bot_testing.MODULE_LOOP`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
import redis
from api.admin_cli import create_admin_and_key
from api.config import ApiSettings
from api.testing import LiveApi, serve_api
from bot_testing import Stack, bot_stack
from shared.testing.plugin import TEST_REDIS_URL
from shared.testing.servers import Databases, RedisServer


@pytest.fixture(scope="module")
def module_redis_url(redis_server: RedisServer | None) -> str:
    url = redis_server.url if redis_server else os.environ[TEST_REDIS_URL]
    client = redis.Redis.from_url(url)
    try:
        client.flushall()
    finally:
        client.close()
    return url


@pytest.fixture(scope="module")
def module_api(databases: Databases, migrated_template: str) -> Iterator[LiveApi]:
    database_url = databases.create(template=migrated_template)
    try:
        made = asyncio.run(
            create_admin_and_key(
                database_url, admin_username="admin", admin_telegram_id=None, new_key=False
            )
        )
        with serve_api(ApiSettings(database_url=database_url)) as url:
            yield LiveApi(url, made["service_key"], made["admin_user_id"], database_url)
    finally:
        databases.drop(database_url)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(
    module_api: LiveApi, module_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    """The bot with an instant stand-in for worker-manager and its PO workers."""
    logs = tmp_path_factory.mktemp("bot")
    async with bot_stack(module_api, module_redis_url, logs, fake_po=True) as ready:
        yield ready
