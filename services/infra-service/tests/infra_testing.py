"""Helpers for infra-service's tests: a tiny deployable app in a git repository, and a harness."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, cast

import httpx
from infra_service.bootstrap import Container
from infra_service.domain.results import result_id
from redis.asyncio import Redis
from shared.contracts import AnsibleDeployMessage, ProvisionerMessage
from shared.streams import RedisStreamPublisher
from shared.testing.waiting import eventually

# A secret that must reach the deployed app and nothing else.
CANARY = "canary-7f3a9c1e5b2d4f60a8e1"

TINY_APP = """\
import hashlib, json, os, pathlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/health" or not pathlib.Path("BUILT").exists():
            self.send_response(404)
            self.end_headers()
            return
        secret = os.environ.get("CANARY", "")
        body = json.dumps({
            "version": pathlib.Path("VERSION").read_text().strip(),
            "pid": os.getpid(),
            "canary_sha256": hashlib.sha256(secret.encode()).hexdigest() if secret else None,
            "environment": sorted(os.environ),
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


ThreadingHTTPServer(("0.0.0.0", int(os.environ["PORT"])), Handler).serve_forever()
"""

PROJECT_FILE = """\
services:
  web:
    build: python3 -c "open('BUILT', 'w').write('yes')"
    run: exec python3 app.py
    health: /health
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def tiny_app_repo(root: Path, project_file: str = PROJECT_FILE) -> Path:
    """A git repository holding the tiny app at version 1; returns its path."""
    repo = root / "tiny-app"
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / "app.py").write_text(TINY_APP)
    (repo / ".project.yml").write_text(project_file)
    commit(repo, "1")
    return repo


def commit(repo: Path, version: str) -> str:
    (repo / "VERSION").write_text(version + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", f"version {version}")
    return git(repo, "rev-parse", "HEAD")


def short_dir(prefix: str) -> Path:
    """Unix socket paths are short: the supervisor's deploy root lives right under /tmp."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def stop_supervisor(deploy_root: Path) -> None:
    conf = deploy_root / "supervisord.conf"
    if conf.exists():
        ctl = Path(sys.executable).parent / "supervisorctl"
        subprocess.run([str(ctl), "-c", str(conf), "shutdown"], capture_output=True, check=False)
        deadline = time.monotonic() + 10
        while (deploy_root / "run" / "supervisord.pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)


class Harness:
    """infra-service serving in this process, the API it writes to, and the queues it reads."""

    def __init__(self, deps: Container, redis: Redis, api: httpx.AsyncClient, tmp: Path) -> None:
        self.deps, self.redis, self.api, self.tmp = deps, redis, api, tmp
        self.publisher = RedisStreamPublisher(redis)

    async def results(self, stream: str) -> list[dict[str, Any]]:
        raw = cast(list[tuple[str, dict[str, str]]], await self.redis.xrange(stream))
        return [json.loads(fields["data"]) for _, fields in raw]

    async def deploy(self, message: AnsibleDeployMessage, within: float = 120) -> dict[str, Any]:
        return await self._ask("ansible:deploy:queue", "deploy:results", message, within)

    async def provision(self, message: ProvisionerMessage, within: float = 300) -> dict[str, Any]:
        return await self._ask("provisioner:queue", "provisioner:results", message, within)

    async def _ask(self, queue: str, results: str, message: Any, within: float) -> dict[str, Any]:
        before = len(await self.results(results))
        await self.publisher.publish(queue, message)
        wanted = result_id(message.request_id)

        async def answered() -> list[dict[str, Any]]:
            return [r for r in (await self.results(results))[before:] if r["request_id"] == wanted]

        first: dict[str, Any] = (await eventually(answered, within))[0]
        return first

    async def server(self, **fields: Any) -> dict[str, Any]:
        response = await self.api.post("/api/servers", json=fields)
        response.raise_for_status()
        server: dict[str, Any] = response.json()
        return server

    async def project(self, name: str) -> dict[str, Any]:
        users = (await self.api.get("/api/users")).json()
        response = await self.api.post(
            "/api/projects", json={"name": name, "owner_id": users[0]["id"], "modules": ["backend"]}
        )
        response.raise_for_status()
        project: dict[str, Any] = response.json()
        return project

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.api.get(path, params=params)
        response.raise_for_status()
        return response.json()


class CommandLineScanner:
    """Reads every process's command line, over and over, looking for a string."""

    def __init__(self, needle: str) -> None:
        self.needle = needle.encode()
        self.found: list[str] = []
        self.scans = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._scan, daemon=True)

    def __enter__(self) -> CommandLineScanner:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _scan(self) -> None:
        while not self._stop.is_set():
            for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
                try:
                    argv = cmdline.read_bytes()
                except OSError:
                    continue
                if self.needle in argv:
                    self.found.append(argv.replace(b"\0", b" ").decode(errors="replace"))
            self.scans += 1
            time.sleep(0.005)
