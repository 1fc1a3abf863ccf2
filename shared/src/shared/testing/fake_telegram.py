"""A fake Telegram Bot API on loopback: one bot, private chats, long polling, Telegram's errors.

The server speaks, on 127.0.0.1 and a free port, what api.telegram.org answers to the calls a
polling bot makes. Point aiogram at it with `TelegramAPIServer.from_base(fake.url)` and the
fake's `token`:

- `POST` or `GET {url}/bot{token}/{method}`; method names are case-insensitive. Parameters come
  in the query string, a form (`application/x-www-form-urlencoded`: what aiogram 3 sends when no
  file is attached; strings as they are, anything else JSON-encoded, empty values left out),
  `multipart/form-data` (aiogram with a file) or a JSON body.
- The answer is `{"ok": true, "result": ...}` (with a `description` where Telegram gives one) or
  `{"ok": false, "error_code": N, "description": "...", "parameters": {"retry_after": s}}` with
  HTTP status N, which aiogram turns into TelegramBadRequest (400), TelegramUnauthorizedError
  (401), TelegramForbiddenError (403), TelegramNotFound (404), TelegramConflictError (409),
  TelegramRetryAfter (any status with `retry_after`) and TelegramServerError (5xx).
- A token of the wrong shape is 404 "Not Found", a well-formed wrong one 401 "Unauthorized"; a
  method the fake does not implement is 404 "Not Found", as an unknown method is on Telegram.
- Methods: getMe; getUpdates (`offset` confirms the updates below it, a negative one keeps the
  last -offset; `limit`; `timeout` blocks until an update arrives, the time runs out, another
  getUpdates takes over (409 "Conflict: terminated by other getUpdates request ...") or the fake
  closes; `allowed_updates` is kept for later calls and filters updates made after it);
  setWebhook, deleteWebhook (`drop_pending_updates`), getWebhookInfo (getUpdates answers 409
  while a webhook is set; the fake never calls it); sendMessage, editMessageText,
  editMessageReplyMarkup, deleteMessage; answerCallbackQuery; sendChatAction; setMyCommands,
  getMyCommands, deleteMyCommands.
- Text: `parse_mode` HTML, MarkdownV2 and Markdown are parsed as Telegram's parser (tdlib's
  `parse_html`, `parse_markdown_v2`, `parse_markdown`) does, with its error texts, e.g. 400 "Bad
  Request: can't parse entities: Character '.' is reserved and must be escaped with the
  preceding '\\'"; leading and trailing white space is trimmed; more than 4096 characters (code
  points, after parsing) is 400 "Bad Request: message is too long"; entity offsets are in UTF-16
  code units. Links to `tg://user` make no entity here (Telegram makes a text mention).
- Chats are private chats with users the test makes (`user()`, or any `send_*`); a chat the
  fake does not know is 400 "Bad Request: chat not found"; after `block(user)` every send and
  chat action there is 403 "Forbidden: bot was blocked by the user".

Test side, synchronous and thread-safe: `send_text`, `send_command`, `send_sticker`,
`send_photo`, `send_voice`, `edit_text` (an `edited_message`), `press` (a `callback_query` on
a button of the bot's message) build realistic updates (message ids increasing per chat,
`from`/`chat`, `date`, `bot_command` entities) and return them. For assertions: `sent(chat)`
(the bot's messages in order, with their current text and edit history), `calls` (every call,
its parameters and the answer), `pressed`, `commands()`, `chat_actions(chat)`, `updates`.
Switches: `fail_next(n, status=429, retry_after=s)` makes the next `n` calls (of `methods`, if
given) fail as Telegram does; `set_flood_limit(messages, per_s)` refuses sends over a per-chat
rate with 429 (off by default). Waiting without sleeping: `wait_for_message`, `wait_for_call`,
`wait_for_poll` (a getUpdates is blocked waiting) and the general `wait` are woken by the
server's changes; `wait_sync` is the same for code without an event loop. The clock behind
dates and the flood rule is injectable (`clock=`); long polls wait in real time.

    with FakeTelegram() as telegram:
        bot = Bot(telegram.token, session=AiohttpSession(
            api=TelegramAPIServer.from_base(telegram.url)))
        telegram.send_command(alice, "start")
        reply = await telegram.wait_for_message(alice, lambda m: "Hello" in m.text)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import re
import secrets
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, TypeVar, cast
from urllib.parse import parse_qs, urlsplit

__all__ = [
    "FakeTelegram",
    "FakeUser",
    "PressedButton",
    "RecordedCall",
    "SentMessage",
    "UploadedFile",
]

T = TypeVar("T")

MAX_TEXT = 4096
MAX_CALLBACK_DATA_BYTES = 64
MAX_CALLBACK_ANSWER = 200
API_PATH = re.compile(r"/bot(?P<token>[^/]*)/(?P<method>[^/]*)/?")
TOKEN_SHAPE = re.compile(r"[0-9]{1,20}:[A-Za-z0-9_-]{1,100}")
COMMAND_NAME = re.compile(r"[a-z0-9_]{1,32}")
# Telegram marks `/command` and `/command@bot` as a bot command where it starts a word.
BOT_COMMAND = re.compile(r"(?<![^\s])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?")
UPDATE_TYPES = (
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
    "business_connection",
    "business_message",
    "edited_business_message",
    "deleted_business_messages",
    "message_reaction",
    "message_reaction_count",
    "inline_query",
    "chosen_inline_result",
    "callback_query",
    "shipping_query",
    "pre_checkout_query",
    "purchased_paid_media",
    "poll",
    "poll_answer",
    "my_chat_member",
    "chat_member",
    "chat_join_request",
    "chat_boost",
    "removed_chat_boost",
)
# What a bot gets when it never named the types it wants.
DEFAULT_UPDATE_TYPES = frozenset(UPDATE_TYPES) - {
    "chat_member",
    "message_reaction",
    "message_reaction_count",
}
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
INLINE_BUTTON_ACTIONS = frozenset(
    {
        "url",
        "callback_data",
        "web_app",
        "login_url",
        "switch_inline_query",
        "switch_inline_query_current_chat",
        "switch_inline_query_chosen_chat",
        "copy_text",
        "callback_game",
        "pay",
    }
)
STATUS_TEXT = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    409: "Conflict",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message"
)
BLOCKED = "Forbidden: bot was blocked by the user"
CHAT_NOT_FOUND = "Bad Request: chat not found"
QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"
TERMINATED = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


# -- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FakeUser:
    """A Telegram user; their private chat with the bot has the same id."""

    id: int
    first_name: str
    last_name: str | None = None
    username: str | None = None
    language_code: str | None = "en"

    def json(self) -> dict[str, Any]:
        """The `User` object Telegram sends."""
        user: dict[str, Any] = {"id": self.id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def chat_json(self) -> dict[str, Any]:
        """The `Chat` object of the user's private chat with the bot."""
        chat: dict[str, Any] = {"id": self.id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass(frozen=True)
class SentMessage:
    """A message the bot sent, as it is now (after edits); `history` holds its earlier texts."""

    chat_id: int
    message_id: int
    text: str
    entities: tuple[dict[str, Any], ...]
    reply_markup: dict[str, Any] | None  # as sent, any kind; only an inline one stays on it
    parse_mode: str | None
    date: int
    edit_date: int | None = None
    history: tuple[str, ...] = ()
    deleted: bool = False
    reply_to_message_id: int | None = None

    @property
    def buttons(self) -> list[dict[str, Any]]:
        """The inline keyboard's buttons, row after row."""
        rows = (self.reply_markup or {}).get("inline_keyboard") or []
        return [button for row in rows for button in row]

    @property
    def callback_data(self) -> list[str]:
        return [b["callback_data"] for b in self.buttons if "callback_data" in b]


@dataclass(frozen=True)
class RecordedCall:
    """One Bot API call as the fake answered it."""

    method: str  # canonical name for the methods the fake knows, else as called (or the path)
    params: dict[str, Any]
    status: int
    response: dict[str, Any]

    @property
    def ok(self) -> bool:
        return bool(self.response.get("ok"))

    @property
    def result(self) -> Any:
        return self.response.get("result")

    @property
    def description(self) -> str | None:
        return cast("str | None", self.response.get("description"))


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart call."""

    filename: str | None
    content: bytes

    def __repr__(self) -> str:
        return f"UploadedFile(filename={self.filename!r}, size={len(self.content)})"


@dataclass(frozen=True)
class PressedButton:
    """A callback query the fake sent, and the bot's answer (None until answered)."""

    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None


# -- state ------------------------------------------------------------------------------------


class _ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after

    def envelope(self) -> dict[str, Any]:
        return _error(self.status, self.description, self.retry_after)


@dataclass(frozen=True)
class _Described:
    result: Any
    description: str


@dataclass
class _Failure:
    status: int
    description: str
    retry_after: int | None
    methods: frozenset[str] | None


@dataclass
class _Message:
    message_id: int
    from_bot: bool
    json: dict[str, Any]  # the Message object as last sent
    text: str | None
    entities: list[dict[str, Any]] = field(default_factory=list)
    inline_markup: dict[str, Any] | None = None
    reply_markup: dict[str, Any] | None = None
    parse_mode: str | None = None
    history: list[str] = field(default_factory=list)
    edit_date: int | None = None
    deleted: bool = False
    reply_to_message_id: int | None = None


@dataclass
class _Chat:
    user: FakeUser
    instance: str
    next_message_id: int = 1
    messages: dict[int, _Message] = field(default_factory=dict)
    blocked: bool = False
    sends: deque[float] = field(default_factory=deque)
    actions: list[str] = field(default_factory=list)


@dataclass
class _Query:
    id: str
    chat_id: int
    user_id: int
    message_id: int
    data: str
    answer: dict[str, Any] | None = None


@dataclass
class _FloodRule:
    messages: int
    per_s: float


class FakeTelegram:
    """The Telegram Bot API for one bot and its private chats, on 127.0.0.1."""

    def __init__(
        self,
        *,
        token: str | None = None,
        bot_id: int = 7_000_000_001,
        bot_username: str = "fake_codegen_bot",
        bot_name: str = "Fake Bot",
        first_update_id: int = 100_000_001,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if token is None:
            token = f"{bot_id}:{secrets.token_urlsafe(26)}"
        elif not TOKEN_SHAPE.fullmatch(token):
            raise ValueError("a bot token is `<digits>:<letters, digits, _ or ->`")
        self.token = token
        self.bot_id = int(token.split(":", 1)[0])
        self.bot_username, self.bot_name = bot_username, bot_name
        self.clock = clock
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._async_waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []
        self._users: dict[int, FakeUser] = {}
        self._chats: dict[int, _Chat] = {}
        self._user_ids = itertools.count(500_000_001)
        self._update_ids = itertools.count(first_update_id)
        self._query_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._queue: list[tuple[int, dict[str, Any]]] = []
        self._all_updates: list[dict[str, Any]] = []
        self._allowed_updates: frozenset[str] = DEFAULT_UPDATE_TYPES
        self._poll_generation = 0
        self._polls_waiting = 0
        self._webhook_url = ""
        self._calls: list[RecordedCall] = []
        self._failures: list[_Failure] = []
        self._flood: _FloodRule | None = None
        self._queries: dict[str, _Query] = {}
        self._commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self._closing = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifetime -------------------------------------------------------------------------------

    def start(self) -> FakeTelegram:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._closing = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="fake-telegram"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving; a long poll in progress answers its updates (often none) at once."""
        with self._changed:
            self._closing = True
            self._notify()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            with self._lock:
                connections = list(self._connections)
            for connection in connections:  # idle keep-alive connections end now
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def __enter__(self) -> FakeTelegram:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> FakeTelegram:
        return self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)

    # -- addresses ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeTelegram is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`: the base for `TelegramAPIServer.from_base`."""
        return f"http://127.0.0.1:{self.port}"

    def api_url(self, method: str) -> str:
        return f"{self.url}/bot{self.token}/{method}"

    def bot_json(self) -> dict[str, Any]:
        """The bot's `User` object, as in messages."""
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": self.bot_name,
            "username": self.bot_username,
        }

    # -- users and what they do -----------------------------------------------------------------

    def user(
        self,
        user_id: int | None = None,
        first_name: str | None = None,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "en",
    ) -> FakeUser:
        """A user who has a private chat with the bot (the same user again for a known id)."""
        with self._changed:
            if user_id is not None and user_id in self._users:
                return self._users[user_id]
            if user_id is None:
                user_id = next(self._user_ids)
            user = FakeUser(
                user_id, first_name or f"User{user_id}", last_name, username, language_code
            )
            self._users[user_id] = user
            self._chats[user_id] = _Chat(user, instance=str(secrets.randbits(62)))
            return user

    def send_text(
        self,
        user: FakeUser | int,
        text: str,
        *,
        reply_to: int | None = None,
        entities: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The user writes `text`; `/command` words get `bot_command` entities. → the update."""
        if entities is None:
            entities = _bot_command_entities(text)
        content: dict[str, Any] = {"text": text}
        if entities:
            content["entities"] = entities
        return self._user_message(user, content, reply_to)

    def send_command(self, user: FakeUser | int, command: str, args: str = "") -> dict[str, Any]:
        """The user sends `/command args` (`command` with or without its slash)."""
        text = "/" + command.removeprefix("/")
        return self.send_text(user, f"{text} {args}" if args else text)

    def send_sticker(
        self, user: FakeUser | int, emoji: str = "👍", *, set_name: str | None = "FakeStickers"
    ) -> dict[str, Any]:
        sticker: dict[str, Any] = {
            **self._file("sticker"),
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
            "file_size": 24_000,
        }
        if set_name:
            sticker["set_name"] = set_name
        return self._user_message(user, {"sticker": sticker})

    def send_photo(
        self,
        user: FakeUser | int,
        *,
        caption: str | None = None,
        width: int = 1280,
        height: int = 960,
    ) -> dict[str, Any]:
        """A photo in Telegram's usual sizes (smallest first), with an optional caption."""
        sizes = []
        for scale in (320, 800, max(width, height)):
            factor = min(1.0, scale / max(width, height))
            w, h = max(1, round(width * factor)), max(1, round(height * factor))
            sizes.append({**self._file("photo"), "width": w, "height": h, "file_size": w * h // 8})
        content: dict[str, Any] = {"photo": sizes}
        if caption:
            content["caption"] = caption
            if entities := _bot_command_entities(caption):
                content["caption_entities"] = entities
        return self._user_message(user, content)

    def send_voice(self, user: FakeUser | int, *, duration: int = 3) -> dict[str, Any]:
        voice = {
            **self._file("voice"),
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": 2_000 * duration,
        }
        return self._user_message(user, {"voice": voice})

    def edit_text(self, message: dict[str, Any], text: str) -> dict[str, Any]:
        """The user edits their text message (an update or message a `send_*` returned)."""
        sent = message.get("message", message)
        chat_id, message_id = sent["chat"]["id"], sent["message_id"]
        with self._changed:
            chat = self._chats[chat_id]
            stored = chat.messages.get(message_id)
            if stored is None or stored.from_bot or stored.text is None or stored.deleted:
                raise ValueError(f"no text message {message_id} of the user in chat {chat_id}")
            edited = {**stored.json, "text": text, "edit_date": int(self.clock())}
            edited.pop("entities", None)
            if entities := _bot_command_entities(text):
                edited["entities"] = entities
            stored.history.append(stored.text)
            stored.text, stored.json = text, edited
            stored.entities = list(edited.get("entities", []))
            stored.edit_date = edited["edit_date"]
            return self._enqueue("edited_message", edited)

    def press(
        self, user: FakeUser | int, callback_data: str, *, message_id: int | None = None
    ) -> dict[str, Any]:
        """The user presses the inline button with `callback_data` on the bot's newest message
        that has one (or on message `message_id`). → the `callback_query` update."""
        with self._changed:
            chat = self._chat_of_user(user)
            candidates = [
                m
                for m in reversed(chat.messages.values())
                if m.from_bot and not m.deleted and (message_id in (None, m.message_id))
            ]
            for candidate in candidates:
                markup = candidate.inline_markup or {}
                buttons = [b for row in markup.get("inline_keyboard", []) for b in row]
                if any(b.get("callback_data") == callback_data for b in buttons):
                    query = _Query(
                        str(next(self._query_ids) * 1_000_003 + chat.user.id),
                        chat.user.id,
                        chat.user.id,
                        candidate.message_id,
                        callback_data,
                    )
                    self._queries[query.id] = query
                    payload = {
                        "id": query.id,
                        "from": chat.user.json(),
                        "message": candidate.json,
                        "chat_instance": chat.instance,
                        "data": callback_data,
                    }
                    return self._enqueue("callback_query", payload)
        raise LookupError(
            f"no button with callback_data {callback_data!r} on the bot's messages in chat "
            f"{chat.user.id}: {[m.callback_data for m in self.sent(chat.user.id)]}"
        )

    def block(self, user: FakeUser | int) -> dict[str, Any]:
        """The user blocks the bot: sends to them are 403 from now. → the `my_chat_member`."""
        with self._changed:
            return self._set_blocked(self._chat_of_user(user), True)

    def unblock(self, user: FakeUser | int) -> dict[str, Any]:
        with self._changed:
            return self._set_blocked(self._chat_of_user(user), False)

    # -- records and switches -------------------------------------------------------------------

    def sent(self, chat: FakeUser | int, *, include_deleted: bool = False) -> list[SentMessage]:
        """The bot's messages in the chat, oldest first, as they are now."""
        chat_id = chat.id if isinstance(chat, FakeUser) else chat
        with self._lock:
            found = self._chats.get(chat_id)
            if found is None:
                return []
            return [
                _snapshot(chat_id, m)
                for m in found.messages.values()
                if m.from_bot and (include_deleted or not m.deleted)
            ]

    @property
    def calls(self) -> list[RecordedCall]:
        """Every call answered, in the order answered (a long poll when it returns)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [c for c in self.calls if c.method.lower() == method.lower()]

    @property
    def updates(self) -> list[dict[str, Any]]:
        """Every update made, oldest first, delivered or not (see `allowed_updates`)."""
        with self._lock:
            return list(self._all_updates)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """The updates queued and not yet confirmed by an `offset`."""
        with self._lock:
            return [update for _, update in self._queue]

    @property
    def pressed(self) -> list[PressedButton]:
        """Every callback query sent, with the bot's answer once it came."""
        with self._lock:
            return [
                PressedButton(q.id, q.user_id, q.chat_id, q.message_id, q.data, q.answer)
                for q in self._queries.values()
            ]

    def commands(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, str]]:
        """The bot's command list for a scope (default: `{"type": "default"}`) and language."""
        with self._lock:
            return list(self._commands.get((_scope_key(scope), language_code), []))

    def chat_actions(self, chat: FakeUser | int) -> list[str]:
        chat_id = chat.id if isinstance(chat, FakeUser) else chat
        with self._lock:
            found = self._chats.get(chat_id)
            return list(found.actions) if found else []

    @property
    def webhook_url(self) -> str:
        return self._webhook_url

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 429,
        retry_after: int | None = None,
        description: str | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Answer the next `n` calls (of `methods` only, if given: a running poller's getUpdates
        would take the others) with `status` as Telegram does; 429 carries `retry_after`
        (5 s unless given) in `parameters` and "Too Many Requests: retry after N"."""
        if status == 429 and retry_after is None:
            retry_after = 5
        if description is None:
            description = STATUS_TEXT.get(status, "Error")
            if retry_after is not None:
                description = f"{description}: retry after {retry_after}"
        names = None if methods is None else frozenset(m.lower() for m in methods)
        failure = _Failure(status, description, retry_after, names)
        with self._lock:
            self._failures.extend([failure] * n)

    def set_flood_limit(self, messages: int | None, per_s: float = 1.0) -> None:
        """Refuse, per chat, a send beyond `messages` in any `per_s` seconds of the clock with
        429 and the seconds until the oldest leaves the window; None turns the rule off."""
        with self._lock:
            self._flood = None if messages is None else _FloodRule(messages, per_s)

    # -- waiting --------------------------------------------------------------------------------

    async def wait(
        self, check: Callable[[], T | None], *, within: float = 30.0, what: str = "condition"
    ) -> T:
        """Re-run `check` whenever the fake changes until it returns something not None."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        waiter = (loop, event)
        with self._lock:
            self._async_waiters.append(waiter)
        try:
            deadline = loop.time() + within
            while True:
                event.clear()
                value = check()
                if value is not None:
                    return value
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise AssertionError(f"{what} not reached within {within} s")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
        finally:
            with self._lock:
                self._async_waiters.remove(waiter)

    def wait_sync(
        self, check: Callable[[], T | None], *, within: float = 30.0, what: str = "condition"
    ) -> T:
        """`wait` for code without an event loop: blocks the calling thread."""
        deadline = time.monotonic() + within
        with self._changed:
            while True:
                value = check()
                if value is not None:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"{what} not reached within {within} s")
                self._changed.wait(remaining)

    async def wait_for_message(
        self,
        chat: FakeUser | int,
        predicate: Callable[[SentMessage], bool] | None = None,
        *,
        within: float = 30.0,
    ) -> SentMessage:
        """The first of the bot's messages in the chat that satisfies `predicate` (any, without
        one), as it is now; waits for it."""
        chat_id = chat.id if isinstance(chat, FakeUser) else chat

        def check() -> SentMessage | None:
            return next((m for m in self.sent(chat_id) if predicate is None or predicate(m)), None)

        try:
            return await self.wait(check, within=within, what=f"a message in chat {chat_id}")
        except AssertionError as error:
            texts = [m.text for m in self.sent(chat_id)]
            raise AssertionError(f"{error}; the bot's messages there: {texts}") from None

    async def wait_for_call(
        self,
        method: str,
        predicate: Callable[[RecordedCall], bool] | None = None,
        *,
        within: float = 30.0,
    ) -> RecordedCall:
        """The first answered call of `method` that satisfies `predicate`; waits for it."""

        def check() -> RecordedCall | None:
            calls = self.calls_to(method)
            return next((c for c in calls if predicate is None or predicate(c)), None)

        return await self.wait(check, within=within, what=f"a {method} call")

    async def wait_for_poll(self, *, within: float = 30.0) -> None:
        """Wait until a getUpdates call is blocked waiting for updates."""

        def check() -> bool | None:
            with self._lock:
                return True if self._polls_waiting else None

        await self.wait(check, within=within, what="a waiting getUpdates")

    # -- state, called with the lock held -------------------------------------------------------

    def _notify(self) -> None:
        self._changed.notify_all()
        for loop, event in self._async_waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop: its waiter is gone
                loop.call_soon_threadsafe(event.set)

    def _chat_of_user(self, user: FakeUser | int) -> _Chat:
        user_id = user.id if isinstance(user, FakeUser) else user
        if user_id not in self._chats:
            self.user(user_id)
        return self._chats[user_id]

    def _file(self, kind: str) -> dict[str, str]:
        n = next(self._file_ids)
        return {
            "file_id": f"Fake{kind.title()}{n:06d}{secrets.token_urlsafe(12)}",
            "file_unique_id": f"U{kind[:2]}{n:06d}",
        }

    def _user_message(
        self, user: FakeUser | int, content: dict[str, Any], reply_to: int | None = None
    ) -> dict[str, Any]:
        with self._changed:
            chat = self._chat_of_user(user)
            if chat.blocked:  # writing to the bot again is restarting it
                self._set_blocked(chat, False)
            message_id = chat.next_message_id
            chat.next_message_id += 1
            message: dict[str, Any] = {
                "message_id": message_id,
                "from": chat.user.json(),
                "chat": chat.user.chat_json(),
                "date": int(self.clock()),
            }
            if reply_to is not None:
                replied = chat.messages.get(reply_to)
                if replied is None:
                    raise ValueError(f"no message {reply_to} in chat {chat.user.id}")
                message["reply_to_message"] = _without_reply(replied.json)
            message.update(content)
            chat.messages[message_id] = _Message(
                message_id,
                from_bot=False,
                json=message,
                text=content.get("text"),
                entities=list(content.get("entities", [])),
                reply_to_message_id=reply_to,
            )
            return self._enqueue("message", message)

    def _set_blocked(self, chat: _Chat, blocked: bool) -> dict[str, Any]:
        chat.blocked = blocked
        member = {"status": "member", "user": self.bot_json()}
        kicked = {"status": "kicked", "user": self.bot_json(), "until_date": 0}
        payload = {
            "chat": chat.user.chat_json(),
            "from": chat.user.json(),
            "date": int(self.clock()),
            "old_chat_member": member if blocked else kicked,
            "new_chat_member": kicked if blocked else member,
        }
        return self._enqueue("my_chat_member", payload)

    def _enqueue(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        update_id = next(self._update_ids)
        update = {"update_id": update_id, kind: payload}
        self._all_updates.append(update)
        if kind in self._allowed_updates:
            self._queue.append((update_id, update))
        self._notify()
        return update

    def _record(self, call: RecordedCall) -> None:
        with self._changed:
            self._calls.append(call)
            self._notify()

    def _take_failure(self, method: str) -> _Failure | None:
        with self._lock:
            for index, failure in enumerate(self._failures):
                if failure.methods is None or method.lower() in failure.methods:
                    return self._failures.pop(index)
            return None

    def _chat(self, chat_id: int) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            raise _ApiError(400, CHAT_NOT_FOUND)
        return chat

    def _chat_to_send(self, chat_id: int) -> _Chat:
        chat = self._chat(chat_id)
        if chat.blocked:
            raise _ApiError(403, BLOCKED)
        if self._flood is not None:
            now = self.clock()
            while chat.sends and chat.sends[0] <= now - self._flood.per_s:
                chat.sends.popleft()
            if len(chat.sends) >= self._flood.messages:
                wait = max(1, math.ceil(chat.sends[0] + self._flood.per_s - now))
                raise _ApiError(429, f"Too Many Requests: retry after {wait}", wait)
            chat.sends.append(now)
        return chat

    def _bot_message(self, chat: _Chat, message_id: int, *, action: str) -> _Message:
        message = chat.messages.get(message_id)
        if message is None or message.deleted:
            raise _ApiError(400, f"Bad Request: message to {action} not found")
        return message

    # -- the API --------------------------------------------------------------------------------

    def _answer(
        self, http_method: str, path: str, query: str, content_type: str, body: bytes
    ) -> tuple[int, dict[str, Any]]:
        match = API_PATH.fullmatch(path)
        if match is None:
            envelope = _error(404, "Not Found")
            self._record(RecordedCall(path, {}, 404, envelope))
            return 404, envelope
        entry = _METHODS.get(match["method"].lower())
        method = entry[0] if entry else match["method"]
        params: dict[str, Any] = {}
        try:
            params = _decode_params(query, content_type, body)
            envelope = self._call(match["token"], method, entry, params)
        except _ApiError as error:
            envelope = error.envelope()
        status = int(envelope.get("error_code", 200))
        self._record(RecordedCall(method, params, status, envelope))
        return status, envelope

    def _call(
        self, token: str, method: str, entry: _Entry | None, params: dict[str, Any]
    ) -> dict[str, Any]:
        if not TOKEN_SHAPE.fullmatch(token):
            return _error(404, "Not Found")
        if token != self.token:
            return _error(401, "Unauthorized")
        failure = self._take_failure(method)
        if failure is not None:
            return _error(failure.status, failure.description, failure.retry_after)
        if entry is None:
            return _error(404, "Not Found")
        try:
            result = entry[1](self, params)
        except _ApiError as error:
            return error.envelope()
        except Exception as error:  # a bug in the fake: say so rather than drop the connection
            return _error(500, f"Internal Server Error: the fake failed: {error!r}")
        if isinstance(result, _Described):
            return {"ok": True, "result": result.result, "description": result.description}
        return {"ok": True, "result": result}

    def _get_me(self, _: dict[str, Any]) -> Any:
        return {
            **self.bot_json(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _get_updates(self, params: dict[str, Any]) -> Any:
        offset = _int(params, "offset", 0)
        limit = min(100, max(1, _int(params, "limit", 100)))
        timeout = max(0, _int(params, "timeout", 0))
        allowed = _json_param(params, "allowed_updates", "Bad Request: can't parse allowed_updates")
        deadline = time.monotonic() + timeout
        with self._changed:
            if self._webhook_url:
                raise _ApiError(409, WEBHOOK_ACTIVE)
            if isinstance(allowed, list):
                wanted = frozenset(str(kind) for kind in allowed) & frozenset(UPDATE_TYPES)
                self._allowed_updates = wanted or DEFAULT_UPDATE_TYPES
            if offset > 0:
                self._queue = [(i, u) for i, u in self._queue if i >= offset]
            elif offset < 0:
                self._queue = self._queue[offset:]
            self._poll_generation += 1
            generation = self._poll_generation
            self._notify()  # an earlier poll ends now, with 409
            waiting = False
            try:
                while not self._queue and not self._closing:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    if not waiting:
                        waiting = True
                        self._polls_waiting += 1
                        self._notify()
                    self._changed.wait(remaining)
                    if self._poll_generation != generation:
                        raise _ApiError(409, TERMINATED)
            finally:
                if waiting:
                    self._polls_waiting -= 1
            return [update for _, update in self._queue[:limit]]

    def _set_webhook(self, params: dict[str, Any]) -> Any:
        url = _str(params, "url")
        if url and not url.lower().startswith("https://"):
            raise _ApiError(
                400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"
            )
        with self._changed:
            if _bool(params, "drop_pending_updates"):
                self._queue.clear()
            previous, self._webhook_url = self._webhook_url, url
            self._notify()
        if not url:
            return _Described(
                True, "Webhook was deleted" if previous else "Webhook is already deleted"
            )
        return _Described(True, "Webhook is already set" if previous == url else "Webhook was set")

    def _delete_webhook(self, params: dict[str, Any]) -> Any:
        return self._set_webhook({**params, "url": ""})

    def _get_webhook_info(self, _: dict[str, Any]) -> Any:
        with self._lock:
            info: dict[str, Any] = {
                "url": self._webhook_url,
                "has_custom_certificate": False,
                "pending_update_count": len(self._queue),
            }
            if self._webhook_url:
                info["max_connections"] = 40
            return info

    def _send_message(self, params: dict[str, Any]) -> Any:
        chat_id = _chat_id(params)
        parse_mode = _str(params, "parse_mode") or None
        text, entities = _formatted(_str(params, "text"), parse_mode, params.get("entities"))
        markup = _reply_markup(params)
        reply = _json_param(params, "reply_parameters", "Bad Request: can't parse reply parameters")
        with self._changed:
            chat = self._chat(chat_id)
            if not text:
                raise _ApiError(400, "Bad Request: message text is empty")
            if len(text) > MAX_TEXT:
                raise _ApiError(400, "Bad Request: message is too long")
            reply_to, reply_json = self._reply_to(chat, params, reply)
            chat = self._chat_to_send(chat_id)
            message_id = chat.next_message_id
            chat.next_message_id += 1
            inline = markup if markup and "inline_keyboard" in markup else None
            message: dict[str, Any] = {
                "message_id": message_id,
                "from": self.bot_json(),
                "chat": chat.user.chat_json(),
                "date": int(self.clock()),
            }
            if reply_json is not None:
                message["reply_to_message"] = reply_json
            message["text"] = text
            if entities:
                message["entities"] = entities
            if inline:
                message["reply_markup"] = inline
            chat.messages[message_id] = _Message(
                message_id,
                from_bot=True,
                json=message,
                text=text,
                entities=entities,
                inline_markup=inline,
                reply_markup=markup,
                parse_mode=parse_mode,
                reply_to_message_id=reply_to,
            )
            self._notify()
            return message

    def _reply_to(
        self, chat: _Chat, params: dict[str, Any], reply: Any
    ) -> tuple[int | None, dict[str, Any] | None]:
        if isinstance(reply, dict) and reply.get("message_id") is not None:
            message_id, tolerant = (
                _to_int(reply["message_id"]),
                bool(reply.get("allow_sending_without_reply")),
            )
        elif params.get("reply_to_message_id") not in (None, ""):
            message_id = _int(params, "reply_to_message_id", 0)
            tolerant = _bool(params, "allow_sending_without_reply")
        else:
            return None, None
        replied = chat.messages.get(message_id) if message_id is not None else None
        if replied is None or replied.deleted:
            if tolerant:
                return None, None
            raise _ApiError(400, "Bad Request: message to be replied not found")
        return replied.message_id, _without_reply(replied.json)

    def _edit_message_text(self, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            raise _ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        parse_mode = _str(params, "parse_mode") or None
        text, entities = _formatted(_str(params, "text"), parse_mode, params.get("entities"))
        chat_id = _chat_id(params)
        message_id = _message_id(params)
        markup = _reply_markup(params)
        inline = markup if markup and "inline_keyboard" in markup else None
        with self._changed:
            chat = self._chat(chat_id)
            message = self._bot_message(chat, message_id, action="edit")
            if not message.from_bot:
                raise _ApiError(400, "Bad Request: message can't be edited")
            if message.text is None:
                raise _ApiError(400, "Bad Request: there is no text in the message to edit")
            if not text:
                raise _ApiError(400, "Bad Request: text must be non-empty")
            if len(text) > MAX_TEXT:
                raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
            if (text, entities, inline) == (message.text, message.entities, message.inline_markup):
                raise _ApiError(400, NOT_MODIFIED)
            message.history.append(message.text)
            message.text, message.entities, message.inline_markup = text, entities, inline
            message.reply_markup, message.parse_mode = markup, parse_mode
            return self._edited(message)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> Any:
        if params.get("inline_message_id"):
            raise _ApiError(400, "Bad Request: MESSAGE_ID_INVALID")
        chat_id = _chat_id(params)
        message_id = _message_id(params)
        markup = _reply_markup(params)
        inline = markup if markup and "inline_keyboard" in markup else None
        with self._changed:
            message = self._bot_message(self._chat(chat_id), message_id, action="edit")
            if not message.from_bot:
                raise _ApiError(400, "Bad Request: message can't be edited")
            if inline == message.inline_markup:
                raise _ApiError(400, NOT_MODIFIED)
            message.inline_markup, message.reply_markup = inline, markup
            return self._edited(message)

    def _edited(self, message: _Message) -> dict[str, Any]:
        message.edit_date = int(self.clock())
        edited = {**message.json, "edit_date": message.edit_date}
        for key in ("text", "entities", "reply_markup"):
            edited.pop(key, None)
        edited["text"] = message.text
        if message.entities:
            edited["entities"] = message.entities
        if message.inline_markup:
            edited["reply_markup"] = message.inline_markup
        message.json = edited
        self._notify()
        return edited

    def _delete_message(self, params: dict[str, Any]) -> Any:
        chat_id = _chat_id(params)
        message_id = _message_id(params)
        with self._changed:
            message = self._bot_message(self._chat(chat_id), message_id, action="delete")
            message.deleted = True
            self._notify()
            return True

    def _answer_callback_query(self, params: dict[str, Any]) -> Any:
        query_id = _str(params, "callback_query_id")
        text = _str(params, "text")
        if len(text) > MAX_CALLBACK_ANSWER:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        with self._changed:
            query = self._queries.get(query_id)
            if query is None or query.answer is not None:
                raise _ApiError(400, QUERY_INVALID)
            query.answer = {
                "text": text or None,
                "show_alert": _bool(params, "show_alert"),
                "url": _str(params, "url") or None,
                "cache_time": _int(params, "cache_time", 0),
            }
            self._notify()
            return True

    def _send_chat_action(self, params: dict[str, Any]) -> Any:
        chat_id = _chat_id(params)
        action = _str(params, "action")
        if action not in CHAT_ACTIONS:
            raise _ApiError(400, "Bad Request: wrong parameter action in request")
        with self._changed:
            chat = self._chat(chat_id)
            if chat.blocked:
                raise _ApiError(403, BLOCKED)
            chat.actions.append(action)
            self._notify()
            return True

    def _set_my_commands(self, params: dict[str, Any]) -> Any:
        raw = _json_param(params, "commands", "Bad Request: can't parse commands JSON object")
        if not isinstance(raw, list):
            raise _ApiError(400, "Bad Request: can't parse commands JSON object")
        commands = []
        for item in raw:
            if not isinstance(item, dict):
                raise _ApiError(400, "Bad Request: can't parse BotCommand JSON object")
            name, description = str(item.get("command", "")), str(item.get("description", ""))
            if not COMMAND_NAME.fullmatch(name):
                raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
            if not 1 <= len(description) <= 256:
                raise _ApiError(400, "Bad Request: command description is empty")
            commands.append({"command": name, "description": description})
        key = self._commands_key(params)
        with self._changed:
            if commands:
                self._commands[key] = commands
            else:
                self._commands.pop(key, None)
            self._notify()
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> Any:
        key = self._commands_key(params)
        with self._lock:
            return list(self._commands.get(key, []))

    def _delete_my_commands(self, params: dict[str, Any]) -> Any:
        key = self._commands_key(params)
        with self._changed:
            self._commands.pop(key, None)
            self._notify()
        return True

    def _commands_key(self, params: dict[str, Any]) -> tuple[str, str]:
        scope = _json_param(params, "scope", "Bad Request: can't parse BotCommandScope JSON object")
        if scope is not None and not isinstance(scope, dict):
            raise _ApiError(400, "Bad Request: can't parse BotCommandScope JSON object")
        return _scope_key(scope), _str(params, "language_code")


_Entry = tuple[str, Callable[[FakeTelegram, dict[str, Any]], Any]]
_METHODS: dict[str, _Entry] = {
    name.lower(): (name, handler)
    for name, handler in [
        ("getMe", FakeTelegram._get_me),
        ("getUpdates", FakeTelegram._get_updates),
        ("setWebhook", FakeTelegram._set_webhook),
        ("deleteWebhook", FakeTelegram._delete_webhook),
        ("getWebhookInfo", FakeTelegram._get_webhook_info),
        ("sendMessage", FakeTelegram._send_message),
        ("editMessageText", FakeTelegram._edit_message_text),
        ("editMessageReplyMarkup", FakeTelegram._edit_message_reply_markup),
        ("deleteMessage", FakeTelegram._delete_message),
        ("answerCallbackQuery", FakeTelegram._answer_callback_query),
        ("sendChatAction", FakeTelegram._send_chat_action),
        ("setMyCommands", FakeTelegram._set_my_commands),
        ("getMyCommands", FakeTelegram._get_my_commands),
        ("deleteMyCommands", FakeTelegram._delete_my_commands),
    ]
}


# -- parameters -------------------------------------------------------------------------------


def _error(status: int, description: str, retry_after: int | None = None) -> dict[str, Any]:
    envelope: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        envelope["parameters"] = {"retry_after": retry_after}
    return envelope


def _decode_params(query: str, content_type: str, body: bytes) -> dict[str, Any]:
    """The call's parameters: the query string, then the body's (form, multipart or JSON)."""
    params: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    kind = content_type.split(";", 1)[0].strip().lower()
    if not body:
        return params
    if kind == "application/json":
        try:
            decoded = json.loads(body)
        except ValueError:
            raise _ApiError(400, "Bad Request: can't parse JSON encoded request") from None
        if not isinstance(decoded, dict):
            raise _ApiError(400, "Bad Request: can't parse JSON encoded request")
        params.update(decoded)
    elif kind == "application/x-www-form-urlencoded":
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: v[-1] for k, v in form.items()})
    elif kind == "multipart/form-data":
        params.update(_multipart(content_type, body))
    return params


def _multipart(content_type: str, body: bytes) -> dict[str, Any]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=policy.HTTP).parsebytes(head + body)
    values: dict[str, Any] = {}
    if not isinstance(message, EmailMessage):
        return values
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            values[name] = UploadedFile(filename, content)
        else:
            values[name] = content.decode("utf-8", "replace")
    return values


def _str(params: dict[str, Any], name: str) -> str:
    value = params.get(name)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,19}\s*", value):
        return int(value)
    return None


def _int(params: dict[str, Any], name: str, default: int) -> int:
    value = params.get(name)
    if value is None or value == "":
        return default
    number = _to_int(value)
    return default if number is None else number


def _bool(params: dict[str, Any], name: str) -> bool:
    value = params.get(name)
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1"}


def _chat_id(params: dict[str, Any]) -> int:
    value = params.get("chat_id")
    if value is None or value == "":
        raise _ApiError(400, "Bad Request: chat_id is empty")
    number = _to_int(value)
    if number is None:  # `@username` names channels and groups, never a private chat
        raise _ApiError(400, CHAT_NOT_FOUND)
    return number


def _message_id(params: dict[str, Any]) -> int:
    number = _to_int(params.get("message_id"))
    if number is None:
        raise _ApiError(400, "Bad Request: message identifier is not specified")
    return number


def _json_param(params: dict[str, Any], name: str, error: str) -> Any:
    """A parameter that is JSON-serialized in a form and a plain JSON value in a JSON body."""
    value = params.get(name)
    if not isinstance(value, str):
        return value
    if value == "":
        return None
    try:
        return json.loads(value)
    except ValueError:
        raise _ApiError(400, error) from None


def _scope_key(scope: dict[str, Any] | None) -> str:
    return json.dumps(scope or {"type": "default"}, sort_keys=True)


def _reply_markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = _json_param(
        params, "reply_markup", "Bad Request: can't parse reply keyboard markup JSON object"
    )
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    if "inline_keyboard" not in markup:
        return markup  # a reply keyboard, its removal or a forced reply: not kept on the message
    rows = markup["inline_keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise _ApiError(400, "Bad Request: can't parse inline keyboard: field is not an Array")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise _ApiError(
                    400,
                    'Bad Request: can\'t parse inline keyboard button: Field "text" must '
                    "be of type String",
                )
            if not INLINE_BUTTON_ACTIONS & button.keys():
                raise _ApiError(
                    400,
                    "Bad Request: can't parse inline keyboard button: Text buttons are unallowed "
                    "in the inline keyboard",
                )
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= MAX_CALLBACK_DATA_BYTES:
                raise _ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
    return {"inline_keyboard": rows}


def _without_reply(message: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in message.items() if k != "reply_to_message"}


def _snapshot(chat_id: int, message: _Message) -> SentMessage:
    return SentMessage(
        chat_id=chat_id,
        message_id=message.message_id,
        text=message.text or "",
        entities=tuple(message.entities),
        reply_markup=message.reply_markup,
        parse_mode=message.parse_mode,
        date=int(message.json.get("date", 0)),
        edit_date=message.edit_date,
        history=tuple(message.history),
        deleted=message.deleted,
        reply_to_message_id=message.reply_to_message_id,
    )


def _bot_command_entities(text: str) -> list[dict[str, Any]]:
    return [
        {"type": "bot_command", "offset": _units(text[: m.start()]), "length": _units(m[0])}
        for m in BOT_COMMAND.finditer(text)
    ]


# -- formatted text: Telegram's (tdlib's) parsers -----------------------------------------------


class _ParseError(Exception):
    pass


@dataclass
class _Entity:
    kind: str  # tdlib's name: Bold, Italic, PreCode, TextUrl ...
    offset: int  # UTF-16 code units
    length: int
    argument: str = ""
    given: dict[str, Any] | None = None  # an entity the call gave, kept as it came

    def json(self) -> dict[str, Any]:
        if self.given is not None:
            return {**self.given, "offset": self.offset, "length": self.length}
        entity: dict[str, Any] = {
            "type": _ENTITY_TYPES[self.kind],
            "offset": self.offset,
            "length": self.length,
        }
        if self.kind == "PreCode":
            entity["language"] = self.argument
        elif self.kind == "TextUrl":
            entity["url"] = self.argument
        elif self.kind == "CustomEmoji":
            entity["custom_emoji_id"] = self.argument
        return entity


_ENTITY_TYPES = {
    "Bold": "bold",
    "Italic": "italic",
    "Underline": "underline",
    "Strikethrough": "strikethrough",
    "Spoiler": "spoiler",
    "Code": "code",
    "Pre": "pre",
    "PreCode": "pre",
    "TextUrl": "text_link",
    "CustomEmoji": "custom_emoji",
    "BlockQuote": "blockquote",
    "ExpandableBlockQuote": "expandable_blockquote",
}
_MDV2_RESERVED = "_*[]()~`>#+-=|{}.!\n"
_CODE_KINDS = ("Code", "Pre", "PreCode")


def _formatted(
    text: str, parse_mode: str | None, explicit: Any
) -> tuple[str, list[dict[str, Any]]]:
    """The text and entities Telegram makes of a message's text, parse mode and entities."""
    mode = (parse_mode or "").lower()
    try:
        if mode == "":
            entities = _explicit_entities(explicit)
        elif mode == "html":
            text, entities = _parse_html(text)
        elif mode == "markdownv2":
            text, entities = _parse_markdown_v2(text)
        elif mode == "markdown":
            text, entities = _parse_markdown(text)
        else:
            raise _ApiError(400, "Bad Request: unsupported parse_mode")
    except _ParseError as error:
        raise _ApiError(400, f"Bad Request: can't parse entities: {error}") from None
    return _trimmed(text, entities)


def _explicit_entities(explicit: Any) -> list[_Entity]:
    if isinstance(explicit, str):
        if not explicit:
            return []
        try:
            explicit = json.loads(explicit)
        except ValueError:
            raise _ApiError(400, "Bad Request: can't parse entities JSON object") from None
    if explicit is None:
        return []
    if not isinstance(explicit, list):
        raise _ApiError(400, "Bad Request: can't parse entities JSON object")
    entities = []
    for item in explicit:
        if not isinstance(item, dict) or not isinstance(item.get("type"), str):
            raise _ApiError(400, "Bad Request: can't parse MessageEntity JSON object")
        offset, length = _to_int(item.get("offset")), _to_int(item.get("length"))
        if offset is None or length is None:
            raise _ApiError(400, "Bad Request: can't parse MessageEntity JSON object")
        entities.append(_Entity(item["type"], offset, length, given=item))
    return entities


def _trimmed(text: str, entities: list[_Entity]) -> tuple[str, list[dict[str, Any]]]:
    """Leading and trailing white space off, the entities moved and clipped to what remains."""
    stripped = text.strip()
    lead = _units(text[: len(text) - len(text.lstrip())])
    total = _units(stripped)
    result = []
    for entity in sorted(entities, key=lambda e: (e.offset, -e.length)):
        start = max(0, entity.offset - lead)
        end = min(total, entity.offset + entity.length - lead)
        if end > start:
            entity.offset, entity.length = start, end - start
            result.append(entity.json())
    return stripped, result


def _units(text: str) -> int:
    """The length in UTF-16 code units, Telegram's unit for entity offsets."""
    return sum(2 if ord(ch) > 0xFFFF else 1 for ch in text)


def _byte_offsets(text: str) -> list[int]:
    """Byte offset (UTF-8) of each character, and of the end: tdlib's errors count bytes."""
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + len(ch.encode("utf-8", "surrogatepass")))
    return offsets


def _peek(text: str) -> Callable[[int], str]:
    """A reader that answers NUL past the end, as tdlib's NUL-terminated strings do."""
    size = len(text)
    return lambda i: text[i] if 0 <= i < size else "\0"


def _is_space(ch: str) -> bool:
    return ch in " \t\r\n\0\v\f"


def _reserved(ch: str) -> _ParseError:
    return _ParseError(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")


def _checked_link(url: str) -> str | None:
    """The URL Telegram links to for `url`, or None when it makes no link of it."""
    url = url.strip()
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):(//)?", url)
    if match and (match[2] or match[1].lower() in {"tg", "ton", "mailto"}):
        scheme = match[1].lower()
        rest = url[match.end() :]
        if scheme in {"tg", "ton"}:
            return None if re.match(r"(?i)user\b", rest) else url
        if scheme not in {"http", "https", "ftp"}:
            return None
    else:
        scheme, rest = "http", url
    host = re.split(r"[/?#]", rest, maxsplit=1)[0]
    if not re.fullmatch(r"[\w-]+(\.[\w-]+)+(:[0-9]{1,5})?", host):
        return None
    tail = rest[len(host) :]
    return f"{scheme}://{host}{tail if tail.startswith('/') else '/' + tail}"


def _custom_emoji_id(url: str) -> str:
    match = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*):(?://)?([^/?#]*)/?(\?[^#]*)?(#.*)?", url)
    if match is None or match[1].lower() != "tg":
        raise _ParseError("Custom emoji URL must have scheme tg")
    if match[2].lower() != "emoji":
        raise _ParseError('Custom emoji URL must have host "emoji"')
    query = parse_qs((match[3] or "?")[1:])
    if "id" not in query:
        raise _ParseError("Custom emoji URL must have an emoji identifier")
    return _emoji_id(query["id"][0])


def _emoji_id(value: str) -> str:
    if not re.fullmatch(r"[1-9][0-9]{0,18}", value) or int(value) >= 2**63:
        raise _ParseError("Invalid custom emoji identifier specified")
    return value


@dataclass
class _Open:
    kind: str
    argument: str
    offset: int  # UTF-16, in the result
    byte_offset: int  # in the source, for errors
    result_pos: int  # characters of the result before it


def _parse_markdown_v2(src: str) -> tuple[str, list[_Entity]]:
    at, offsets, n = _peek(src), _byte_offsets(src), len(src)
    out: list[str] = []
    units = 0
    entities: list[_Entity] = []
    stack: list[_Open] = []
    have_quote = False
    can_quote = True
    i = -1
    while True:
        i += 1
        if i >= n:
            break
        c = src[i]
        if c == "\\" and "\0" < at(i + 1) <= "~":
            i += 1
            out.append(src[i])
            units += 1
            if src[i] != "\r":
                can_quote = src[i] == "\n"
            continue
        reserved = "`" if stack and stack[-1].kind in _CODE_KINDS else _MDV2_RESERVED
        if c not in reserved:
            units += _units(c)
            if c != "\r":
                can_quote = False
            out.append(c)
            continue
        if not stack:
            ends = False
        elif have_quote and c == "\n" and at(i + 1) != ">":
            ends = True
        else:
            ends = _closes(stack[-1].kind, c, at(i + 1), at(i + 2))
        if not ends:
            byte_offset, argument = offsets[i], ""
            if c == "_":
                kind = "Underline" if at(i + 1) == "_" else "Italic"
                i += 1 if kind == "Underline" else 0
            elif c == "*":
                kind = "Bold"
            elif c == "~":
                kind = "Strikethrough"
            elif c == "|":
                if at(i + 1) != "|":
                    raise _reserved(c)
                i += 1
                kind = "Spoiler"
            elif c == "[":
                kind = "TextUrl"
            elif c == "`":
                if at(i + 1) == "`" and at(i + 2) == "`":
                    i += 3
                    kind = "Pre"
                    end = i
                    while not _is_space(at(end)) and at(end) != "`":
                        end += 1
                    if i != end and end < n and src[end] != "`":
                        kind, argument, i = "PreCode", src[i:end], end
                    if at(i) in "\n\r":  # one new line after the language is not text
                        i += 2 if at(i + 1) in "\n\r" and at(i) != at(i + 1) else 1
                    i -= 1
                else:
                    kind = "Code"
            elif c == "!":
                if at(i + 1) != "[":
                    raise _reserved(c)
                i += 1
                kind = "CustomEmoji"
            elif c == "\n":
                units += 1
                out.append("\n")
                can_quote = True
                continue
            elif c == ">":
                if not can_quote:
                    raise _reserved(c)
                if have_quote:
                    continue
                kind, have_quote = "BlockQuote", True
            else:
                raise _reserved(c)
            stack.append(_Open(kind, argument, units, byte_offset, len(out)))
            continue
        kind = stack[-1].kind
        if c == "\n" and kind != "BlockQuote":
            top = stack[-1]
            expandable_end = top.byte_offset == offsets[i] - 2 or (
                top.byte_offset == offsets[i] - 3 and out[-1:] == ["\r"]
            )
            if kind != "Spoiler" or not expandable_end:
                raise _unclosed(top)
            stack.pop()
            if stack[-1].kind != "BlockQuote":
                raise _unclosed(stack[-1])
            kind = "ExpandableBlockQuote"
        top = stack[-1]
        argument = top.argument
        skip = units == top.offset
        if kind in ("Underline", "Spoiler"):
            i += 1
        elif kind in ("Pre", "PreCode"):
            i += 2
        elif kind == "TextUrl":
            if at(i + 1) != "(":
                url = "".join(out[top.result_pos :])
            else:
                i += 2
                url_begin = offsets[min(i, n)]
                url, i = _markdown_url(src, i)
                if at(i) != ")":
                    raise _ParseError(f"Can't find end of a URL at byte offset {url_begin}")
            checked = _checked_link(url)
            if checked is None:
                skip = True
            else:
                argument = checked
        elif kind == "CustomEmoji":
            if at(i + 1) != "(":
                raise _ParseError("Custom emoji entity must contain a tg://emoji URL")
            i += 2
            url_begin = offsets[min(i, n)]
            url, i = _markdown_url(src, i)
            if at(i) != ")":
                raise _ParseError(
                    f"Can't find end of a custom emoji URL at byte offset {url_begin}"
                )
            argument = _custom_emoji_id(url)
        elif kind in ("BlockQuote", "ExpandableBlockQuote"):
            have_quote = False
            out.append(src[i])
            can_quote = True
            units += 1
            skip = False
        if not skip:
            entities.append(_Entity(kind, top.offset, units - top.offset, argument))
        stack.pop()
    if have_quote and stack:
        kind = "BlockQuote"
        if stack[-1].kind == "Spoiler" and stack[-1].byte_offset == offsets[n] - 2:
            stack.pop()
            kind = "ExpandableBlockQuote"
        if stack and stack[-1].kind == "BlockQuote":
            top = stack.pop()
            if units != top.offset:
                entities.append(_Entity(kind, top.offset, units - top.offset))
    if stack:
        raise _unclosed(stack[-1])
    return "".join(out), entities


def _closes(kind: str, c: str, next1: str, next2: str) -> bool:
    if kind == "Bold":
        return c == "*"
    if kind == "Italic":
        return c == "_" and next1 != "_"
    if kind == "Underline":
        return c == "_" and next1 == "_"
    if kind == "Code":
        return c == "`"
    if kind in ("Pre", "PreCode"):
        return c == "`" and next1 == "`" and next2 == "`"
    if kind in ("TextUrl", "CustomEmoji"):
        return c == "]"
    if kind == "Strikethrough":
        return c == "~"
    if kind == "Spoiler":
        return c == "|" and next1 == "|"
    return False  # a block quote ends at a line that does not start with '>'


def _unclosed(entity: _Open) -> _ParseError:
    return _ParseError(
        f"Can't find end of {entity.kind} entity at byte offset {entity.byte_offset}"
    )


def _markdown_url(src: str, i: int) -> tuple[str, int]:
    """The URL from `i` to the next ')' (escapes undone), and the index of that ')'."""
    at, chars = _peek(src), []
    while i < len(src) and src[i] != ")":
        if src[i] == "\\" and "\0" < at(i + 1) <= "~":
            chars.append(src[i + 1])
            i += 2
            continue
        chars.append(src[i])
        i += 1
    return "".join(chars), i


def _parse_markdown(src: str) -> tuple[str, list[_Entity]]:
    """The legacy Markdown parse mode."""
    at, offsets, n = _peek(src), _byte_offsets(src), len(src)
    out: list[str] = []
    units = 0
    entities: list[_Entity] = []
    i = -1
    while True:
        i += 1
        if i >= n:
            break
        c = src[i]
        if c == "\\" and at(i + 1) in "_*`[":
            i += 1
            out.append(src[i])
            units += 1
            continue
        if c not in "_*`[":
            units += _units(c)
            out.append(c)
            continue
        begin = i
        end_char = "]" if c == "[" else c
        is_pre = False
        language = ""
        i += 1
        if c == "`" and at(i) == "`" and at(i + 1) == "`":
            i += 2
            is_pre = True
            end = i
            while not _is_space(at(end)) and at(end) != "`":
                end += 1
            if i != end and end < n and src[end] != "`":
                language, i = src[i:end], end
            if at(i) in "\n\r":
                i += 2 if at(i + 1) in "\n\r" and at(i) != at(i + 1) else 1
        start = units
        while i < n and (src[i] != end_char or (is_pre and not (at(i + 1) == at(i + 2) == "`"))):
            units += _units(src[i])
            out.append(src[i])
            i += 1
        if i >= n:
            raise _ParseError(
                f"Can't find end of the entity starting at byte offset {offsets[begin]}"
            )
        if units != start:
            if c == "_":
                entities.append(_Entity("Italic", start, units - start))
            elif c == "*":
                entities.append(_Entity("Bold", start, units - start))
            elif c == "[":
                if at(i + 1) != "(":
                    url = src[begin + 1 : i]
                else:
                    i += 2
                    url_chars = []
                    while i < n and src[i] != ")":
                        url_chars.append(src[i])
                        i += 1
                    url = "".join(url_chars)
                if (checked := _checked_link(url)) is not None:
                    entities.append(_Entity("TextUrl", start, units - start, checked))
            elif is_pre:
                kind = "PreCode" if language else "Pre"
                entities.append(_Entity(kind, start, units - start, language))
            else:
                entities.append(_Entity("Code", start, units - start))
        if is_pre:
            i += 2
    return "".join(out), entities


_HTML_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)
_HTML_SIMPLE = {
    "i": "Italic",
    "em": "Italic",
    "b": "Bold",
    "strong": "Bold",
    "s": "Strikethrough",
    "strike": "Strikethrough",
    "del": "Strikethrough",
    "u": "Underline",
    "ins": "Underline",
    "tg-spoiler": "Spoiler",
    "span": "Spoiler",
}


@dataclass
class _Tag:
    name: str
    argument: str
    offset: int
    result_pos: int


def _parse_html(src: str) -> tuple[str, list[_Entity]]:
    at, offsets, n = _peek(src), _byte_offsets(src), len(src)
    out: list[str] = []
    units = 0
    entities: list[_Entity] = []
    stack: list[_Tag] = []
    i = -1
    while True:
        i += 1
        if i >= n:
            break
        c = src[i]
        if c == "&" and (decoded := _html_entity(src, i)) is not None:
            code, i = decoded
            i -= 1
            out.append(chr(code))
            units += 2 if code > 0xFFFF else 1
            continue
        if c != "<":
            units += _units(c)
            out.append(c)
            continue
        begin = i
        i += 1
        where = f"at byte offset {offsets[begin]}"
        if at(i) != "/":
            while not _is_space(at(i)) and at(i) != ">":
                i += 1
            if at(i) == "\0":
                raise _ParseError(f"Unclosed start tag {where}")
            name = src[begin + 1 : i].lower()
            if name not in _HTML_TAGS:
                raise _ParseError(f'Unsupported start tag "{name}" {where}')
            argument, i = _html_attributes(src, i, name, where, offsets)
            if name == "span" and argument != "spoiler":
                raise _ParseError(f'Tag "span" must have class "tg-spoiler" {where}')
            stack.append(_Tag(name, argument, units, len(out)))
            continue
        if not stack:
            raise _ParseError(f"Unexpected end tag {where}")
        while not _is_space(at(i)) and at(i) != ">":
            i += 1
        end_name = src[begin + 2 : i].lower()
        while at(i) != "\0" and _is_space(at(i)):
            i += 1
        if at(i) != ">":
            raise _ParseError(f"Unclosed end tag {where}")
        top = stack.pop()
        if end_name and end_name != top.name:
            raise _ParseError(
                f'Unmatched end tag {where}, expected "</{top.name}>", found "</{end_name}>"'
            )
        if units > top.offset:
            _close_html_tag(top, units, "".join(out[top.result_pos :]), entities)
    if stack:
        raise _ParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')
    for entity in entities:
        if entity.kind == "Code":
            entity.argument = ""
    text = "".join(out)
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
        raise _ParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for "
            "unmatched surrogate code units"
        )
    return text, entities


def _html_attributes(
    src: str, i: int, name: str, where: str, offsets: list[int]
) -> tuple[str, int]:
    """Read a start tag's attributes from `i` to its '>'; → the tag's argument and the '>'."""
    at = _peek(src)
    argument = ""
    while at(i) != ">":
        while at(i) != "\0" and _is_space(at(i)):
            i += 1
        if at(i) == ">":
            break
        attribute_begin = i
        while not _is_space(at(i)) and at(i) not in "=>/\"'":
            i += 1
        attribute = src[attribute_begin:i]
        if not attribute:
            raise _ParseError(f'Empty attribute name in the tag "{name}" {where}')
        while at(i) != "\0" and _is_space(at(i)):
            i += 1
        if at(i) != "=":
            if at(i) == "\0":
                raise _ParseError(f'Unclosed start tag "{name}" {where}')
            if name == "blockquote" and attribute == "expandable":
                argument = "1"
            continue
        i += 1
        while at(i) != "\0" and _is_space(at(i)):
            i += 1
        if at(i) == "\0":
            raise _ParseError(f'Unclosed start tag "{name}" {where}')
        if at(i) not in "'\"":
            token_begin = i
            while (at(i).isascii() and at(i).isalnum()) or at(i) in ".-":
                i += 1
            value = src[token_begin:i].lower()
            if not _is_space(at(i)) and at(i) != ">":
                raise _ParseError(
                    f"Unexpected end of name token at byte offset {offsets[token_begin]}"
                )
        else:
            quote = src[i]
            i += 1
            chars = []
            while at(i) != quote and at(i) != "\0":
                if src[i] == "&" and (decoded := _html_entity(src, i)) is not None:
                    code, i = decoded
                    chars.append(chr(code))
                    continue
                chars.append(src[i])
                i += 1
            if at(i) == quote:
                i += 1
            value = "".join(chars)
        if at(i) == "\0":
            raise _ParseError(f"Unclosed start tag {where}")
        if name == "a" and attribute == "href":
            argument = value
        elif name == "code" and attribute == "class" and value.startswith("language-"):
            argument = value[len("language-") :]
        elif name == "span" and attribute == "class" and value.startswith("tg-"):
            argument = value[len("tg-") :]
        elif name == "tg-emoji" and attribute == "emoji-id":
            argument = value
        elif name == "blockquote" and attribute == "expandable":
            argument = "1"
    return argument, i


def _close_html_tag(tag: _Tag, units: int, inner: str, entities: list[_Entity]) -> None:
    offset, length = tag.offset, units - tag.offset
    last = entities[-1] if entities else None
    same_range = last is not None and (last.offset, last.length) == (offset, length)
    if tag.name in _HTML_SIMPLE:
        entities.append(_Entity(_HTML_SIMPLE[tag.name], offset, length))
    elif tag.name == "tg-emoji":
        entities.append(_Entity("CustomEmoji", offset, length, _emoji_id(tag.argument)))
    elif tag.name == "a":
        checked = _checked_link(tag.argument or inner)
        if checked is not None:
            entities.append(_Entity("TextUrl", offset, length, checked))
    elif tag.name == "pre":
        if last is not None and same_range and last.kind == "Code" and last.argument:
            last.kind = "PreCode"
        else:
            entities.append(_Entity("Pre", offset, length))
    elif tag.name == "code":
        if last is not None and same_range and last.kind == "Pre" and tag.argument:
            last.kind, last.argument = "PreCode", tag.argument
        else:
            entities.append(_Entity("Code", offset, length, tag.argument))
    elif tag.name == "blockquote":
        kind = "ExpandableBlockQuote" if tag.argument else "BlockQuote"
        entities.append(_Entity(kind, offset, length))


def _html_entity(src: str, pos: int) -> tuple[int, int] | None:
    """The character an HTML entity at `pos` stands for and the index after it, or None."""
    at = _peek(src)
    end = pos + 1
    code = 0
    if at(pos + 1) == "#":
        end += 1
        if at(pos + 2) == "x":
            end += 1
            while at(end) in "0123456789abcdefABCDEF" and at(end) != "\0":
                code = code * 16 + int(at(end), 16)
                end += 1
        else:
            while at(end).isascii() and at(end).isdigit():
                code = code * 10 + int(at(end))
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
    else:
        while at(end).isascii() and at(end).isalpha():
            end += 1
        code = {"lt": 0x3C, "gt": 0x3E, "amp": 0x26, "quot": 0x22}.get(src[pos + 1 : end], 0)
        if code == 0:
            return None
    if at(end) == ";":
        end += 1
    return code, end


# -- HTTP -------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeTelegram


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeTelegram/1.0"
    timeout = 120

    @property
    def fake(self) -> FakeTelegram:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.fake._lock:
                self.fake._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the calls are in `FakeTelegram.calls`."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        split = urlsplit(self.path)
        body = self._read_body()
        status, envelope = self.fake._answer(
            self.command, split.path, split.query, self.headers.get("Content-Type", ""), body
        )
        data = json.dumps(envelope, ensure_ascii=False).encode()
        try:
            self.send_response(status, STATUS_TEXT.get(status))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:  # the client gave up (a cancelled long poll): nothing to answer
            self.close_connection = True

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(self._chunks())
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size_line = self.rfile.readline(1024)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in {b"\r\n", b"\n", b""}:
                    pass  # trailers
                return
            yield self.rfile.read(size)
            self.rfile.readline(16)  # the CRLF after the chunk
