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

QUEUE = KeySpec(
    "telegram-bot:queue:{lane}", KeyType.JSON, BOT, BOT, "until its messages are handled",
    "A list: one lane's messages waiting their turn, oldest first (a lane is a chat's messages "
    "for the PO, or `{chat}:quick`: its quick commands and non-text); the first leaves once "
    "handled.",
)  # fmt: skip
QUEUES = KeySpec(
    "telegram-bot:queues", KeyType.SET, BOT, BOT, "no expiry (members leave when emptied)",
    "The lanes with messages waiting: taken up again when the bot starts.",
)  # fmt: skip
QUEUED = KeySpec(
    "telegram-bot:queued:{request_id}", KeyType.STRING, BOT, BOT, "1 day",
    "A message was queued: delivered again (Telegram, or telegram:inbox), it is not queued twice.",
)  # fmt: skip
ANSWERED = KeySpec(
    "telegram-bot:answered:{request_id}", KeyType.STRING, BOT, BOT, "1 week",
    "A message got its final answer (or was told why not): handled again after a restart, it "
    "is not answered twice.",
)  # fmt: skip

KEYS: tuple[KeySpec, ...] = (
    REFUSED, FOLLOWING, FOLLOWED_TASK, TOLD, QUEUE, QUEUES, QUEUED, ANSWERED,
)  # fmt: skip
