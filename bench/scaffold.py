"""A scaffold through the scaffolder service vs the same work by hand, alternated in one run.

By hand (A): `copier copy` of the service template, then `git init/add/commit/push` into a new
bare repository — what the scaffolder does at least. Through the service (B): a
ScaffolderMessage on scaffolder:queue until its ScaffolderResult, with the real API, Redis and
Postgres behind it. Rounds alternate AB/BA; each round's ratio B/A is the estimate.

Last line: RESULT scaffold overhead_ratio=<median B/A> service_s=<median B> bare_s=<median A>

Run: uv run python -P bench/scaffold.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import copier
import httpx
from api.admin_cli import create_admin_and_key
from api.config import ApiSettings
from api.migrations import upgrade
from api.testing import serve_api
from redis.asyncio import Redis
from scaffolder.config import DEFAULT_TEMPLATE, ScaffolderSettings
from shared.contracts import ScaffolderMessage
from shared.streams import RedisStreamPublisher, connect_redis
from shared.testing.processes import ServiceProcess, settings_env
from shared.testing.servers import Databases, PostgresServer, RedisServer, psql_binary

sys.path.insert(0, str(Path(__file__).parent))

SCAFFOLDER = str(Path(sys.executable).parent / "scaffolder")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


def by_hand(root: Path, name: str) -> float:
    start = time.perf_counter()
    bare, work = root / f"{name}.git", root / name
    git(root, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    copier.run_copy(
        str(DEFAULT_TEMPLATE),
        str(work),
        data={"project_name": name, "project_description": "", "modules": ["backend"]},
        defaults=True,
        unsafe=False,
        quiet=True,
    )
    git(work, "init", "--quiet", "--initial-branch=main")
    git(work, "add", "--all")
    git(work, "commit", "--quiet", "-m", "scaffold")
    git(work, "push", "--quiet", str(bare), "main")
    return time.perf_counter() - start


async def through_service(redis: Redis, project: dict[str, Any]) -> float:
    message = ScaffolderMessage(
        project_id=project["id"], project_name=project["name"], modules=["backend"]
    )
    start = time.perf_counter()
    await RedisStreamPublisher(redis).publish("scaffolder:queue", message)
    last = "0-0"
    while True:
        reply = cast(
            list[tuple[str, list[tuple[str, dict[str, str]]]]],
            await redis.xread({"scaffolder:results": last}, block=5000),
        )
        for _, entries in reply:
            for entry_id, fields in entries:
                last = entry_id
                data = json.loads(fields["data"])
                if data["request_id"] == message.request_id:
                    if data["status"] != "success":
                        raise RuntimeError(f"scaffold failed: {data['error']}")
                    return time.perf_counter() - start
        if time.perf_counter() - start > 300:
            raise TimeoutError("no result within 300 s")


async def main(rounds: int) -> None:
    root = Path(tempfile.mkdtemp(prefix="cg-bench-scaffold-", dir="/tmp"))
    redis_server, postgres = RedisServer(), PostgresServer()
    redis_server.start()
    postgres.start()
    stack = contextlib.ExitStack()
    service: ServiceProcess | None = None
    try:
        database_url = Databases(postgres.url(), psql_binary()).create()
        await asyncio.to_thread(upgrade, database_url)
        admin = await create_admin_and_key(
            database_url, admin_username="bench", admin_telegram_id=None, new_key=False
        )
        api_url = stack.enter_context(serve_api(ApiSettings(database_url=database_url)))
        settings = ScaffolderSettings(
            redis_url=redis_server.url,
            api_url=api_url,
            api_key=admin["service_key"],
            data_dir=root / "scaffolder",
            concurrency=1,
        )
        env = {"PATH": os.environ["PATH"], "HOME": str(root)}
        service = ServiceProcess([SCAFFOLDER], env | settings_env(settings), root / "svc.log")
        headers = {"Authorization": f"Bearer {admin['service_key']}"}
        redis = connect_redis(redis_server.url)
        a_times, b_times = [], []
        async with httpx.AsyncClient(base_url=api_url, headers=headers) as client:
            for round_ in range(rounds + 1):  # round 0 warms both paths up
                response = await client.post(
                    "/api/projects",
                    json={
                        "name": f"svc-{round_}",
                        "owner_id": admin["admin_user_id"],
                        "modules": ["backend"],
                    },
                )
                response.raise_for_status()
                project = response.json()
                hand_root = root / f"hand-{round_}"
                hand_root.mkdir()
                if round_ % 2:
                    b = await through_service(redis, project)
                    a = await asyncio.to_thread(by_hand, hand_root, f"hand-{round_}")
                else:
                    a = await asyncio.to_thread(by_hand, hand_root, f"hand-{round_}")
                    b = await through_service(redis, project)
                if round_:
                    a_times.append(a)
                    b_times.append(b)
                    print(f"round {round_}: by hand {a:.2f} s, service {b:.2f} s", flush=True)
        await redis.aclose()
    finally:
        if service is not None:
            service.stop()
        stack.close()
        postgres.close()
        redis_server.close()
        shutil.rmtree(root, ignore_errors=True)
    med = statistics.median
    ratios = [b / a for a, b in zip(a_times, b_times, strict=True)]
    print(
        f"RESULT scaffold overhead_ratio={med(ratios):.2f} "
        f"ratio_spread={min(ratios):.2f}..{max(ratios):.2f} "
        f"service_s={med(b_times):.2f} bare_s={med(a_times):.2f} rounds={rounds}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.rounds))
