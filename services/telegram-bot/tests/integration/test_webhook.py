"""The bot in webhook mode: it sets its webhook at start, takes Telegram's calls on its own
port only with the secret, and answers through the Bot API as in polling mode."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from bot_testing import MODULE_LOOP, Stack, bot_stack
from shared.testing.servers import free_port

pytestmark = MODULE_LOOP

SECRET = "webhook-secret-0123456789"
PATH = "/telegram/hook"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def webhook_stack(
    module_api: LiveApi, module_redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Stack, str]]:
    port = free_port()
    async with bot_stack(
        module_api, module_redis_url, Path(tmp_path_factory.mktemp("webhook")), fake_po=True,
        mode="webhook", webhook_url="https://bot.example/telegram/hook",
        webhook_secret=SECRET, webhook_port=port, webhook_path=PATH,
    ) as stack:  # fmt: skip
        yield stack, f"http://127.0.0.1:{port}{PATH}"


async def test_updates_posted_with_the_secret_are_answered_and_others_refused(
    webhook_stack: tuple[Stack, str],
) -> None:
    stack, hook = webhook_stack
    alice, _ = await stack.user()
    [set_webhook] = stack.telegram.calls_to("setWebhook")
    update = stack.telegram.send_text(alice, "hello over the webhook")

    async with httpx.AsyncClient() as client:
        refused = await client.post(hook, json=update)
        taken = await client.post(
            hook, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )
    answer = await stack.telegram.wait_for_message(alice)

    assert set_webhook.params["url"] == "https://bot.example/telegram/hook"
    assert set_webhook.params["secret_token"] == SECRET
    assert refused.status_code == 401
    assert taken.status_code == 200
    assert answer.text == "echo: hello over the webhook"
