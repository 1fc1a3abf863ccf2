"""telegram-bot as its own process against the fake Telegram Bot API, with the real API, Redis
and (in test_po_workers.py) worker-manager.

Importing aiogram's types takes seconds, so a module's tests share one bot process (and the fake
Telegram, the API and the Redis it uses): each test talks as users of its own, and the module's
tests run in one event loop (`pytestmark = bot_testing.MODULE_LOOP`)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import redis
from api.admin_cli import create_admin_and_key
from api.config import ApiSettings
from api.testing import LiveApi, serve_api
from bot_testing import (
    CONFIGURED_ADMIN,
    Api,
    BotProcess,
    FakePoWorkers,
    Gate,
    Stack,
    bot_settings,
)
from shared.streams.redis import connect_redis
from shared.testing.fake_telegram import FakeTelegram
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
    """The bot (through a gate to the API, open unless a test closes it), the fake Telegram,
    and an instant stand-in for worker-manager and its PO workers."""
    logs = tmp_path_factory.mktemp("bot")
    client = connect_redis(module_redis_url)
    with FakeTelegram() as telegram:
        telegram.user(CONFIGURED_ADMIN)
        async with (
            Gate(module_api.url) as gate,
            FakePoWorkers(client) as po,
            httpx.AsyncClient(
                base_url=module_api.url,
                headers={"Authorization": f"Bearer {module_api.service_key}"},
            ) as http,
        ):
            settings = bot_settings(
                bot_token=telegram.token,
                bot_api_url=telegram.url,
                redis_url=module_redis_url,
                api_url=gate.url,
                api_key=module_api.service_key,
                admin_telegram_ids=str(CONFIGURED_ADMIN),
            )
            bot = BotProcess(settings, Path(logs) / "telegram-bot.log")
            try:
                await telegram.wait_for_poll(within=60)
                yield Stack(telegram, Api(http), client, bot, po, gate, module_api)
            finally:
                await asyncio.to_thread(bot.stop)
                await client.aclose()
