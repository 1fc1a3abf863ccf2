"""The Redis keys only telegram-bot reads and writes (the ones other cubes read, such as
`po:session:{user_id}` and `worker:status:{worker_id}`, are in `shared.keys`)."""

from __future__ import annotations

from shared.keys import KeySpec, KeyType

BOT = ("telegram-bot",)

REFUSED = KeySpec(
    "telegram-bot:refused:{telegram_id}", KeyType.STRING, BOT, BOT, "1 week",
    "An unknown Telegram user was told they are not let in: they are not told again.",
)  # fmt: skip
FOLLOWING = KeySpec(
    "telegram-bot:following", KeyType.SET, BOT, BOT, "no expiry (members leave at their end)",
    "The tasks whose progress the bot shows now.",
)  # fmt: skip
FOLLOWED_TASK = KeySpec(
    "telegram-bot:task:{task_id}", KeyType.JSON, BOT, BOT,
    "1 week after its last entry shown (a task with no result is given up then)",
    "A followed task: its chat, status message, view and the last progress entry shown; kept "
    "after its end so a repeated intent opens no second message.",
)  # fmt: skip
TOLD = KeySpec(
    "telegram-bot:told:{kind}:{key}", KeyType.STRING, BOT, BOT, "1 week",
    "Admins were told of this provisioning result or incident.",
)  # fmt: skip

KEYS: tuple[KeySpec, ...] = (REFUSED, FOLLOWING, FOLLOWED_TASK, TOLD)
