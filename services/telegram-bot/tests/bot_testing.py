"""Helpers for telegram-bot's integration tests (on pytest's pythonpath as `bot_testing`): the
bot and worker-manager as processes of their own, an instant stand-in for worker-manager and its
PO workers, the API's records the bot reads, and the local chat (MODE=local) as a terminal
speaks it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import random
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import httpx
import pytest
from api.testing import LiveApi
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from shared.contracts import (
    CreateWorkerCommand,
    LocalChatOutput,
    POWorkerInput,
    POWorkerOutput,
    TelegramMessage,
    TelegramMessageKind,
    WorkerResponse,
    WorkerState,
)
from shared.keys import LOCAL_CHAT_MESSAGE_IDS, WORKER_STATUS
from shared.streams import RedisStreamPublisher, raise_if_cancelled
from shared.streams.consumer import REDIS_UNAVAILABLE
from shared.streams.redis import connect_redis
from shared.streams.registry import (
    LOCAL_CHAT_OUTBOX,
    PO_INPUT,
    PO_OUTPUT,
    TELEGRAM_INBOX,
    WORKER_COMMANDS,
    WORKER_RESPONSES_PO,
    Group,
)
from shared.streams.wire import decode
from shared.testing.fake_telegram import FakeTelegram
from shared.testing.processes import ServiceProcess, settings_env
from shared.testing.waiting import eventually
from telegram_bot.config import BotSettings
from worker_manager.config import ManagerSettings

BIN = Path(sys.executable).parent
BOT = str(BIN / "telegram-bot")
MANAGER = str(BIN / "worker-manager")
WRAPPER = str(BIN / "worker-wrapper")
# An admin named in the bot's settings rather than in the API.
CONFIGURED_ADMIN = 999_000_999

T = TypeVar("T")


class ChosenBotSettings(BotSettings):
    """BotSettings from what a test gives and the defaults, never from its own environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


class ChosenManagerSettings(ManagerSettings):
    """ManagerSettings likewise."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def process_env(settings: BaseSettings) -> dict[str, str]:
    return {"PATH": os.environ["PATH"], **settings_env(settings)}


def bot_settings(**settings: Any) -> ChosenBotSettings:
    """Settings for a bot under test: quick edits and checks, logs as JSON."""
    values: dict[str, Any] = {
        "edit_interval_s": 0.2,
        "liveness_check_s": 0.5,
        "incident_check_s": 0.2,
        "worker_start_timeout_s": 60,
        "shutdown_grace_s": 5,
        "log_format": "json",
        "po_agent": "scripted",
    }
    return ChosenBotSettings.model_validate(values | settings)


class BotProcess(ServiceProcess):
    def __init__(self, settings: BotSettings, log: Path) -> None:
        super().__init__([BOT], process_env(settings), log)


StartBot = Callable[..., BotProcess]


class ManagerProcess(ServiceProcess):
    """worker-manager on the process backend; its workers run the scripted agent with
    `script` (SCRIPTED_AGENT_SCRIPT)."""

    def __init__(self, settings: ManagerSettings, script: Path, log: Path) -> None:
        env = process_env(settings) | {"SCRIPTED_AGENT_SCRIPT": str(script)}
        super().__init__([MANAGER], env, log)


def manager_settings(redis_url: str, data_dir: Path, **settings: Any) -> ChosenManagerSettings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "data_dir": data_dir,
        "wrapper_command": WRAPPER,
        "monitor_interval_s": 0.2,
        "worker_env_passthrough": "SCRIPTED_AGENT_SCRIPT",
        "log_format": "json",
    }
    return ChosenManagerSettings.model_validate(values | settings)


def worker_processes(worker_id: str) -> list[int]:
    """A worker's processes, the wrapper and its agents, by their environment."""
    marker = f"WORKER_ID={worker_id}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0"):
                    found.append(int(entry.name))
    return found


def kill_workers(worker_ids: list[str]) -> None:
    for worker_id in worker_ids:
        for pid in worker_processes(worker_id):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


async def worker_ids(redis: Redis) -> list[str]:
    return [str(key).removeprefix("worker:status:") async for key in redis.scan_iter("worker:*")
            if str(key).startswith("worker:status:")]  # fmt: skip


@dataclass
class Api:
    """The API as a service sees it: records made for a test."""

    client: httpx.AsyncClient

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.client.post(path, json=body)
        response.raise_for_status()
        return cast(dict[str, Any], response.json())

    async def project(self, owner_id: str, name: str, **fields: Any) -> dict[str, Any]:
        body = {"name": name, "owner_id": owner_id, "modules": ["backend"]}
        return await self.post("/api/projects", body | fields)

    async def user(self, telegram_id: int, *, admin: bool = False) -> dict[str, Any]:
        return await self.post(
            "/api/users",
            {"telegram_id": telegram_id, "username": f"u{telegram_id}", "is_admin": admin},
        )


POReply = Callable[[POWorkerInput], list[POWorkerOutput]]


def echo(message: POWorkerInput) -> list[POWorkerOutput]:
    return [answer(message, f"echo: {message.prompt}")]


def answer(message: POWorkerInput, text: str, *, final: bool = True) -> POWorkerOutput:
    return POWorkerOutput(
        request_id=message.request_id,
        correlation_id=message.correlation_id,
        user_id=message.user_id,
        text=text,
        is_final=final,
        session_id="fake-session",
    )


@dataclass
class FakePoWorkers:
    """An instant stand-in for worker-manager and the PO workers it starts: creates are answered
    on `worker:responses:po` with a RUNNING worker, and each worker answers its input with
    `reply`'s outputs. Reads the real streams through the real groups; keeps what it read."""

    redis: Redis
    reply: POReply = echo
    serving: bool = True
    """False: a stand-in that does nothing (the real worker-manager serves)."""
    creates: list[CreateWorkerCommand] = field(default_factory=list)
    inputs: list[POWorkerInput] = field(default_factory=list)
    _inputs: list[str] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def __post_init__(self) -> None:
        self._publisher = RedisStreamPublisher(self.redis)

    async def __aenter__(self) -> FakePoWorkers:
        if not self.serving:
            return self
        await self._group(WORKER_COMMANDS.pattern, Group.WORKER_MANAGER)
        self._tasks = [
            asyncio.create_task(self._serve(Group.WORKER_MANAGER, lambda: [WORKER_COMMANDS.pattern],
                                            self._command)),
            asyncio.create_task(self._serve(Group.PO_WORKER, lambda: list(self._inputs),
                                            self._message)),
        ]  # fmt: skip
        return self

    async def __aexit__(self, *_: object) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _group(self, stream: str, group: str) -> None:
        with contextlib.suppress(ResponseError):
            await self.redis.xgroup_create(stream, group, id="0", mkstream=True)

    async def _serve(
        self, group: str, streams: Callable[[], list[str]], handle: Callable[[str, Any], Any]
    ) -> None:
        while True:
            raise_if_cancelled()
            names = streams()
            if not names:
                await asyncio.sleep(0.01)
                continue
            try:
                batches = cast(
                    list[tuple[str, list[tuple[str, dict[str, str]]]]],
                    await self.redis.xreadgroup(
                        group, "fake", dict.fromkeys(names, ">"), block=100
                    ),
                )
                for stream, entries in batches or []:
                    for entry_id, fields in entries:
                        await handle(stream, fields)
                        await self.redis.xack(stream, group, entry_id)
            except REDIS_UNAVAILABLE:  # a test stopped Redis: serve again once it is back
                await asyncio.sleep(0.05)

    async def _command(self, stream: str, fields: dict[str, str]) -> None:
        command = decode(fields, WORKER_COMMANDS.adapter)
        if not isinstance(command, CreateWorkerCommand):
            return
        self.creates.append(command)
        worker_id = f"po-fake-{next(self._numbers)}"
        await self.redis.hset(
            WORKER_STATUS.name(worker_id=worker_id),
            mapping={"worker_id": worker_id, "worker_type": "po", "state": WorkerState.RUNNING,
                     "updated_at": "2025-01-01T00:00:00+00:00"},
        )  # fmt: skip
        stream_name = PO_INPUT.name(worker_id=worker_id)
        await self._group(stream_name, Group.PO_WORKER)
        self._inputs.append(stream_name)
        await self._publisher.publish(
            WORKER_RESPONSES_PO.pattern,
            WorkerResponse(
                request_id=command.request_id, correlation_id=command.correlation_id,
                command="create", success=True, worker_id=worker_id,
            ),
        )  # fmt: skip

    async def _message(self, stream: str, fields: dict[str, str]) -> None:
        message = cast(POWorkerInput, decode(fields, PO_INPUT.adapter))
        self.inputs.append(message)
        worker_id = stream.split(":")[2]
        for output in self.reply(message):
            await self._publisher.publish(PO_OUTPUT.name(worker_id=worker_id), output)


class Gate:
    """A TCP proxy to the API; closed, it drops its connections and refuses new ones."""

    def __init__(self, target: str) -> None:
        host, port = target.removeprefix("http://").split(":")
        self.target = (host, int(port))
        self.url = ""
        self._open = True
        self._writers: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Gate:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self.close()
        self._server.close()
        await self._server.wait_closed()

    def close(self) -> None:
        self._open = False
        for writer in self._writers:
            writer.close()
        self._writers.clear()

    def reopen(self) -> None:
        self._open = True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self._open:
            writer.close()
            return
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self._writers |= {writer, upstream_writer}

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, RuntimeError):
                pass
            finally:
                sink.close()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")


@dataclass
class Stack:
    telegram: FakeTelegram
    api: Api
    redis: Redis
    bot: BotProcess
    po: FakePoWorkers
    gate: Gate
    live_api: LiveApi
    settings: BotSettings
    log: Path
    workdir: Path = Path()
    """Where the module keeps its files."""

    def start_bot(self) -> BotProcess:
        """A new bot process with the same settings (the last one must have ended); stopped at
        the end of the module like the first."""
        assert self.bot.exit_code is not None, "the bot is still running"
        self.bot = BotProcess(self.settings, self.log)
        return self.bot

    async def kill_bot(self) -> None:
        """SIGKILL: the bot ends at once, without a word to anyone."""
        self.bot.process.kill()
        await asyncio.to_thread(self.bot.process.wait)

    async def stop_bot(self) -> None:
        """SIGTERM, as a supervisor stops it; it must end within its grace."""
        assert await asyncio.to_thread(self.bot.stop) == 0

    def new_user_id(self) -> int:
        """A Telegram id no other test of the module uses."""
        return random.randrange(10**8, 10**9)

    async def user(self, *, admin: bool = False) -> tuple[int, str]:
        """A user known to the API: their Telegram id and API id."""
        telegram_id = self.new_user_id()
        self.telegram.user(telegram_id)  # they have a chat with the bot
        created = await self.api.user(telegram_id, admin=admin)
        return telegram_id, str(created["id"])


@contextlib.asynccontextmanager
async def bot_stack(
    api: LiveApi, redis_url: str, logs: Path, *, fake_po: bool, **more: Any
) -> AsyncIterator[Stack]:
    """The bot (through a gate to the API, open unless a test closes it) and the fake Telegram;
    with `fake_po`, an instant stand-in for worker-manager and its PO workers; `more` settings
    (in webhook mode, the bot is ready once it set its webhook)."""
    client = connect_redis(redis_url)
    with FakeTelegram() as telegram:
        telegram.user(CONFIGURED_ADMIN)
        async with (
            Gate(api.url) as gate,
            FakePoWorkers(client, serving=fake_po) as po,
            httpx.AsyncClient(
                base_url=api.url, headers={"Authorization": f"Bearer {api.service_key}"}
            ) as http,
        ):
            settings = bot_settings(
                bot_token=telegram.token,
                bot_api_url=telegram.url,
                redis_url=redis_url,
                api_url=gate.url,
                api_key=api.service_key,
                admin_telegram_ids=str(CONFIGURED_ADMIN),
                **more,
            )
            log = logs / "telegram-bot.log"
            stack = Stack(
                telegram, Api(http), client, BotProcess(settings, log), po, gate, api, settings, log
            )
            try:
                if settings.mode == "webhook":
                    await telegram.wait(lambda: telegram.webhook_url or None, within=60)
                else:
                    await telegram.wait_for_poll(within=60)
                yield stack
            finally:
                await asyncio.to_thread(stack.bot.stop)
                await client.aclose()


@dataclass
class LocalStack:
    """The bot in local mode (MODE=local): no Telegram at all; people talk to it as the
    terminal does, through Redis (`say`, `said`)."""

    api: Api
    redis: Redis
    bot: BotProcess
    po: FakePoWorkers
    settings: BotSettings

    def new_user_id(self) -> int:
        """A Telegram id no other test of the module uses."""
        return random.randrange(10**8, 10**9)

    async def user(self) -> tuple[int, str]:
        """A user known to the API: their Telegram id (their local chat's id) and API id."""
        telegram_id = self.new_user_id()
        created = await self.api.user(telegram_id)
        return telegram_id, str(created["id"])

    async def say(self, chat: int, text: str) -> int:
        """What the terminal does with a line typed in the chat: a message id from the chat's
        counter, the message appended to `telegram:inbox`. Returns its id."""
        message_id = int(await self.redis.incr(LOCAL_CHAT_MESSAGE_IDS.name(chat_id=str(chat))))
        message = TelegramMessage.received(
            telegram_id=chat, chat_id=chat, message_id=message_id,
            kind=TelegramMessageKind.TEXT, date=datetime.now(UTC), text=text,
        )  # fmt: skip
        await RedisStreamPublisher(self.redis).publish(TELEGRAM_INBOX.pattern, message)
        return message_id

    async def said(self, chat: int) -> list[LocalChatOutput]:
        """Everything the bot said in the chat so far, in order (its outbox)."""
        stream = LOCAL_CHAT_OUTBOX.name(chat_id=str(chat))
        entries = cast(list[tuple[str, dict[str, str]]], await self.redis.xrange(stream))
        return [
            cast(LocalChatOutput, decode(fields, LOCAL_CHAT_OUTBOX.adapter))
            for _, fields in entries
        ]

    async def wait_said(
        self, chat: int, check: Callable[[list[LocalChatOutput]], T | None], within: float = 30
    ) -> T:
        """`check`'s first true value on what the bot said in the chat (the bot must live)."""

        async def checked() -> T | None:
            assert self.bot.exit_code is None, self.bot.describe()
            return check(await self.said(chat))

        return await eventually(checked, within=within)


@contextlib.asynccontextmanager
async def local_bot_stack(
    api: LiveApi, redis_url: str, logs: Path, **more: Any
) -> AsyncIterator[LocalStack]:
    """The bot in local mode, without a token or any Telegram, on the real API and Redis, with
    an instant stand-in for worker-manager and its PO workers; ready once it reads its inbox."""
    client = connect_redis(redis_url)
    async with (
        FakePoWorkers(client) as po,
        httpx.AsyncClient(
            base_url=api.url, headers={"Authorization": f"Bearer {api.service_key}"}
        ) as http,
    ):
        settings = bot_settings(
            mode="local", redis_url=redis_url, api_url=api.url, api_key=api.service_key, **more
        )
        stack = LocalStack(Api(http), client, BotProcess(settings, logs / "telegram-bot.log"),
                           po, settings)  # fmt: skip

        async def reading_its_inbox() -> bool:
            assert stack.bot.exit_code is None, stack.bot.describe()
            with contextlib.suppress(ResponseError):  # no inbox yet
                groups = await client.xinfo_groups(TELEGRAM_INBOX.pattern)
                return any(group["name"] == Group.TELEGRAM_BOT for group in groups)
            return False

        try:
            await eventually(reading_its_inbox, within=60)
            yield stack
        finally:
            await asyncio.to_thread(stack.bot.stop)
            await client.aclose()
