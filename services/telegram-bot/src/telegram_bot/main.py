"""`telegram-bot`: Telegram's updates (long polling, or a webhook), the bot's stream consumers
and its watchers, run by `shared.runtime`: SIGTERM lets the turns in flight finish
(SHUTDOWN_GRACE_S), a task that ends unasked stops the service with exit 1."""

from shared import runtime
from telegram_bot.bootstrap import build
from telegram_bot.config import BotSettings


def main() -> None:
    runtime.main(BotSettings, build, name="telegram-bot")
