"""Wall time of `orchestrator project list` against a live API vs `python -c pass`, same run.

The API (uvicorn over a real Postgres) is served in this process; each call is a fresh process,
as when an agent runs the command. The median of N runs of each is reported.

Usage: python -P bench/cli.py [--runs N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from api.admin_cli import create_admin_and_key
from api.config import ApiSettings
from api.migrations import upgrade
from api.testing import serve_api
from shared.testing.servers import Databases, PostgresServer, psql_binary


def timed(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"{argv} failed: {result.stdout}{result.stderr}")
    return elapsed


def main(runs: int) -> None:
    server = PostgresServer()
    server.start()
    try:
        url = Databases(server.url(), psql_binary()).create()
        upgrade(url)
        keys = asyncio.run(
            create_admin_and_key(url, admin_username="bench", admin_telegram_id=None, new_key=False)
        )
        with serve_api(ApiSettings(database_url=url)) as api_url:
            headers = {"Authorization": f"Bearer {keys['service_key']}"}
            for i in range(20):
                httpx.post(
                    f"{api_url}/api/projects",
                    headers=headers,
                    json={
                        "name": f"p{i}",
                        "modules": ["backend"],
                        "owner_id": keys["admin_user_id"],
                    },
                )
            env = {
                **os.environ,
                "API_URL": api_url,
                "API_KEY": keys["service_key"],
                "ALLOWED_COMMANDS": "PRODUCT_OWNER",
            }
            script = str(Path(sys.executable).parent / "orchestrator")
            listed = subprocess.run(
                [script, "project", "list"], env=env, capture_output=True, text=True, check=True
            )
            assert len(json.loads(listed.stdout)["data"]) == 20
            calls, baselines = [], []
            for _ in range(runs):
                baselines.append(timed([sys.executable, "-c", "pass"], env))
                calls.append(timed([script, "project", "list"], env))
        call_s, base_s = statistics.median(calls), statistics.median(baselines)
        print(
            f"python -c pass: {base_s * 1000:.0f} ms; orchestrator project list: "
            f"{call_s * 1000:.0f} ms (median of {runs})"
        )
        print(f"RESULT cli startup_ratio={call_s / base_s:.1f} call_s={call_s:.3f}")
    finally:
        server.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    main(parser.parse_args().runs)
