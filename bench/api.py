"""Create a task, then read it: the full API stack vs a bare FastAPI + asyncpg app.

Both servers run as their own process on the same database; one client drives both with the same
concurrency. The full stack adds bearer-key auth (a key lookup per request), contract validation,
the ORM, ownership checks and the commit; the bare app does the same INSERT and SELECT. Rounds
alternate which side goes first (AB, BA, ...); each round's ratio pairs the two sides' runs, and
the median ratio is reported with the spread (min and max) of the rounds.

Usage: python -P bench/api.py [--pairs N] [--concurrency C] [--rounds R]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from api.admin_cli import create_admin_and_key
from api.migrations import upgrade
from shared.testing.servers import Databases, PostgresServer, free_port, psql_binary

HERE = Path(__file__).resolve().parent
TIMEOUT_S = 300


async def drive(base_url: str, key: str, project_id: str, pairs: int, concurrency: int) -> float:
    """Requests per second for `pairs` create-then-read pairs."""
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits) as client:
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(pairs):
            queue.put_nowait(i)

        async def worker() -> None:
            while not queue.empty():
                queue.get_nowait()
                created = await client.post(
                    "/api/tasks",
                    json={"project_id": project_id, "type": "engineering", "spec": "bench"},
                )
                assert created.status_code == 201, created.text
                read = await client.get(f"/api/tasks/{created.json()['id']}")
                assert read.status_code == 200, read.text

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return 2 * pairs / (time.perf_counter() - start)


def start(args: list[str], port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"{args} did not start")


async def setup(url: str, api_base: str) -> tuple[str, str]:
    result = await create_admin_and_key(
        url, admin_username="bench", admin_telegram_id=None, new_key=False
    )
    key = result["service_key"]
    async with httpx.AsyncClient(
        base_url=api_base, headers={"Authorization": f"Bearer {key}"}
    ) as c:
        body = {"name": "bench", "modules": ["backend"], "owner_id": result["admin_user_id"]}
        project = await c.post("/api/projects", json=body)
        return key, project.json()["id"]


def main(pairs: int, concurrency: int, rounds: int) -> None:
    server = PostgresServer()
    server.start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        url = Databases(server.url(), psql_binary()).create()
        upgrade(url)
        api_port, bare_port = free_port(), free_port()
        processes.append(
            start(
                [sys.executable, "-m", "api.main"],
                api_port,
                {"DATABASE_URL": url, "API_PORT": str(api_port), "LOG_LEVEL": "WARNING"},
            )
        )
        processes.append(
            start(
                [
                    sys.executable,
                    str(HERE / "api_bare.py"),
                    "--database-url",
                    url,
                    "--port",
                    str(bare_port),
                ],
                bare_port,
                {},
            )
        )
        api_base, bare_base = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{bare_port}"
        key, project_id = asyncio.run(setup(url, api_base))
        asyncio.run(drive(api_base, key, project_id, 100, concurrency))  # warm up
        asyncio.run(drive(bare_base, key, project_id, 100, concurrency))
        api_rps, bare_rps, ratios = [], [], []

        def run(base: str) -> float:
            return asyncio.run(
                asyncio.wait_for(drive(base, key, project_id, pairs, concurrency), TIMEOUT_S)
            )

        for round_no in range(rounds):
            if round_no % 2 == 0:
                bare_rps.append(run(bare_base))
                api_rps.append(run(api_base))
            else:
                api_rps.append(run(api_base))
                bare_rps.append(run(bare_base))
            ratios.append(bare_rps[-1] / api_rps[-1])
            print(
                f"round {round_no + 1}: bare {bare_rps[-1]:.0f} rps, api {api_rps[-1]:.0f} rps, "
                f"ratio {ratios[-1]:.2f}"
            )
        print(
            f"RESULT api overhead_ratio={statistics.median(ratios):.2f} "
            f"ratio_min={min(ratios):.2f} ratio_max={max(ratios):.2f} "
            f"api_rps={statistics.median(api_rps):.0f} bare_rps={statistics.median(bare_rps):.0f} "
            f"rounds={rounds}"
        )
    finally:
        for process in processes:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=6)
    options = parser.parse_args()
    main(options.pairs, options.concurrency, options.rounds)
