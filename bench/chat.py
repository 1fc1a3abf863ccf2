"""What telegram-bot adds to a chat turn: a person's message to its first reply, through the bot,
against the same turn done directly on the PO's streams.

Everything is real but Telegram and the PO: Redis, Postgres, the API and telegram-bot (its own
process, long polling) run as in production; Telegram is `shared.testing.fake_telegram` on
loopback, and an instant PO in this process stands in for worker-manager and the PO worker: it
answers a create at once and each input as soon as it reads it (through the `po-worker` group,
as the wrapper does).

Each round runs both sides, alternating:
- A, direct: XADD a `POWorkerInput` to the PO's input stream and XREAD (blocking) its output:
  the PO's own round trip, `direct_ms`.
- B, the bot: the fake Telegram hands the bot a text message (the bot is blocked in its long
  poll, as it is between messages) and the time runs until the reply is in the chat: user
  lookup in the API, the session and the worker's state in Redis, the input, the output read
  through the bot's group, `sendMessage`. `reply_ms`.
`overhead_ms` is B minus A in the same round. One warm-up round (it creates the worker) does not
count. Medians over the rounds.

Last line: RESULT chat overhead_ms=<x> reply_ms=<y>

Usage: python -P bench/chat.py [--rounds 30] [--keep-logs]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

from api.admin_cli import create_admin_and_key
from api.config import ApiSettings
from api.migrations import upgrade
from api.testing import serve_api
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from shared.contracts import (
    CreateWorkerCommand,
    POWorkerInput,
    POWorkerOutput,
    WorkerResponse,
    WorkerState,
)
from shared.keys import WORKER_STATUS
from shared.streams import RedisStreamPublisher, connect_redis
from shared.streams.registry import PO_INPUT, PO_OUTPUT, WORKER_COMMANDS, WORKER_RESPONSES_PO, Group
from shared.streams.wire import decode, encode
from shared.testing.fake_telegram import FakeTelegram
from shared.testing.processes import ServiceProcess
from shared.testing.servers import Databases, PostgresServer, RedisServer, psql_binary

BOT = str(Path(sys.executable).parent / "telegram-bot")
TELEGRAM_ID = 424242
WAIT_S = 60
DIRECT_WORKER = "po-bench-direct"


class InstantPo:
    """worker-manager and the PO workers, answering as soon as they read."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._publisher = RedisStreamPublisher(redis)
        self._inputs: list[str] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.serve_worker(DIRECT_WORKER)
        await self._group(WORKER_COMMANDS.pattern, Group.WORKER_MANAGER)
        commands = [WORKER_COMMANDS.pattern]
        self._tasks = [
            asyncio.create_task(self._serve(Group.WORKER_MANAGER, lambda: commands)),
            asyncio.create_task(self._serve(Group.PO_WORKER, lambda: list(self._inputs))),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def serve_worker(self, worker_id: str) -> None:
        await self._redis.hset(
            WORKER_STATUS.name(worker_id=worker_id),
            mapping={"worker_id": worker_id, "worker_type": "po", "state": WorkerState.RUNNING,
                     "updated_at": "2025-01-01T00:00:00+00:00"},
        )  # fmt: skip
        stream = PO_INPUT.name(worker_id=worker_id)
        await self._group(stream, Group.PO_WORKER)
        self._inputs.append(stream)

    async def _group(self, stream: str, group: str) -> None:
        with contextlib.suppress(ResponseError):
            await self._redis.xgroup_create(stream, group, id="0", mkstream=True)

    async def _serve(self, group: str, streams: Any) -> None:
        while True:
            names = streams()
            batches = cast(
                list[tuple[str, list[tuple[str, dict[str, str]]]]],
                await self._redis.xreadgroup(group, "bench", dict.fromkeys(names, ">"), block=1000),
            )
            for stream, entries in batches or []:
                for entry_id, fields in entries:
                    if stream == WORKER_COMMANDS.pattern:
                        await self._command(decode(fields, WORKER_COMMANDS.adapter))
                    else:
                        await self._answer(stream, decode(fields, PO_INPUT.adapter))
                    await self._redis.xack(stream, group, entry_id)

    async def _command(self, command: Any) -> None:
        if not isinstance(command, CreateWorkerCommand):
            return
        worker_id = f"po-bench-{len(self._inputs)}"
        await self.serve_worker(worker_id)
        await self._publisher.publish(
            WORKER_RESPONSES_PO.pattern,
            WorkerResponse(request_id=command.request_id, command="create", success=True,
                           worker_id=worker_id),
        )  # fmt: skip

    async def _answer(self, stream: str, message: POWorkerInput) -> None:
        worker_id = stream.split(":")[2]
        reply = POWorkerOutput(
            request_id=message.request_id, user_id=message.user_id,
            text=f"ok: {message.prompt}", session_id="bench-session",
        )  # fmt: skip
        await self._publisher.publish(PO_OUTPUT.name(worker_id=worker_id), reply)


async def direct_turn(redis: Redis, user_id: str, n: int) -> float:
    output = PO_OUTPUT.name(worker_id=DIRECT_WORKER)
    last = cast(list[tuple[str, Any]], await redis.xrevrange(output, count=1))
    after = last[0][0] if last else "0-0"
    message = POWorkerInput(user_id=user_id, prompt=f"direct {n}")
    start = time.perf_counter()
    await redis.xadd(PO_INPUT.name(worker_id=DIRECT_WORKER), encode(message))  # type: ignore[arg-type]
    reply = await redis.xread({output: after}, count=1, block=WAIT_S * 1000)
    elapsed = time.perf_counter() - start
    if not reply:
        raise TimeoutError("the PO did not answer directly")
    return elapsed


async def bot_turn(telegram: FakeTelegram, n: int) -> float:
    await telegram.wait_for_poll(within=WAIT_S)
    text = f"through the bot {n}"
    start = time.perf_counter()
    telegram.send_text(TELEGRAM_ID, text)
    await telegram.wait_for_message(TELEGRAM_ID, lambda m: m.text == f"ok: {text}", within=WAIT_S)
    return time.perf_counter() - start


async def run(rounds: int, redis_url: str, api_url: str, api_key: str, user_id: str,
              logs: Path) -> tuple[list[float], list[float]]:  # fmt: skip
    redis = connect_redis(redis_url)
    po = InstantPo(redis)
    await po.start()
    with FakeTelegram() as telegram:
        telegram.user(TELEGRAM_ID)
        env = {
            "PATH": os.environ["PATH"], "BOT_TOKEN": telegram.token, "BOT_API_URL": telegram.url,
            "REDIS_URL": redis_url, "API_URL": api_url, "API_KEY": api_key, "PO_AGENT": "scripted",
            "LOG_FORMAT": "json", "LOG_LEVEL": "WARNING",
        }  # fmt: skip
        bot = ServiceProcess([BOT], env, logs / "telegram-bot.log")
        try:
            await bot_turn(telegram, 0)  # warm-up: the worker is created
            await direct_turn(redis, user_id, 0)
            direct, through = [], []
            for n in range(1, rounds + 1):
                direct.append(await direct_turn(redis, user_id, n))
                through.append(await bot_turn(telegram, n))
        finally:
            await asyncio.to_thread(bot.stop)
            await po.stop()
            await redis.aclose()
    return direct, through


def main(rounds: int, keep_logs: bool) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="bench-chat-"))
    redis_server, postgres = RedisServer(), PostgresServer()
    redis_server.start()
    postgres.start()
    try:
        url = Databases(postgres.url(), psql_binary()).create()
        upgrade(url)
        keys = asyncio.run(
            create_admin_and_key(
                url, admin_username="bench", admin_telegram_id=TELEGRAM_ID, new_key=False
            )
        )
        with serve_api(ApiSettings(database_url=url)) as api_url:
            direct, through = asyncio.run(
                run(rounds, redis_server.url, api_url, keys["service_key"],
                    keys["admin_user_id"], workdir)
            )  # fmt: skip
    finally:
        postgres.close()
        redis_server.close()
        if not keep_logs:
            shutil.rmtree(workdir, ignore_errors=True)
    direct_ms = statistics.median(direct) * 1000
    reply_ms = statistics.median(through) * 1000
    overhead_ms = statistics.median(b - a for a, b in zip(direct, through, strict=True)) * 1000
    print(
        f"{rounds} rounds: direct on the PO's streams {direct_ms:.1f} ms, through the bot "
        f"{reply_ms:.1f} ms (medians)" + (f"; logs in {workdir}" if keep_logs else "")
    )
    print(f"RESULT chat overhead_ms={overhead_ms:.1f} reply_ms={reply_ms:.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--keep-logs", action="store_true")
    options = parser.parse_args()
    main(options.rounds, options.keep_logs)
