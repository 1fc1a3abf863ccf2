"""Helpers for infra-service's tests: a tiny deployable app in a git repository, and a harness."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, cast

import httpx
from infra_service.config import InfraSettings
from redis.asyncio import Redis
from shared.contracts import AnsibleDeployMessage, ProvisionerMessage, ServerHealthCheck
from shared.streams import RedisStreamPublisher
from shared.testing import processes
from shared.testing.git import commit as commit_files
from shared.testing.git import work_tree
from shared.testing.processes import settings_env
from shared.testing.secrets_scan import CommandLineScanner as CommandLineScanner
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


ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), Handler).serve_forever()
"""

PROJECT_FILE = """\
services:
  web:
    build: python3 -c "open('BUILT', 'w').write('yes')"
    run: exec python3 app.py
    health: /health
"""


def tiny_app_repo(root: Path, project_file: str = PROJECT_FILE) -> Path:
    """A git repository holding the tiny app at version 1; returns its path."""
    files = {"app.py": TINY_APP, ".project.yml": project_file, "VERSION": "1\n"}
    return work_tree(root / "tiny-app", files, "version 1")


def commit(repo: Path, version: str) -> str:
    """The tiny app at `version`, committed; the commit's sha."""
    return commit_files(repo, {"VERSION": version + "\n"}, f"version {version}")


@contextlib.asynccontextmanager
async def local_deploy_root() -> AsyncIterator[Path]:
    """A deploy root for the `local` target; its supervisor and programs stopped, and the
    directory removed, when done."""
    root = short_dir("cg-deploy-")
    try:
        yield root
    finally:
        try:
            await stop_supervisor(root)
        finally:
            await asyncio.to_thread(shutil.rmtree, root, True)


def short_dir(prefix: str) -> Path:
    """Unix socket paths are short: the supervisor's deploy root lives right under /tmp."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def processes_of(deploy_root: Path) -> dict[int, str]:
    """Processes started from a deploy root: its supervisor (named by its configuration) and
    the programs it runs (working in a release under it); pid → command line."""
    root = str(deploy_root.resolve())
    found = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if root in argv or cwd == root or cwd.startswith(root + "/"):
            found[int(entry.name)] = argv.strip()
    return found


async def stop_supervisor(deploy_root: Path, within: float = 30) -> None:
    """Stop a deploy root's supervisor and every program it runs; fail if any of them survives
    (each is killed first, so nothing is left behind either way)."""
    if not processes_of(deploy_root):
        return
    conf = deploy_root / "supervisord.conf"
    shutdown = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(conf), "shutdown"],
        capture_output=True,
        text=True,
        timeout=within,
        check=False,
    )

    async def all_gone() -> bool:
        return not await asyncio.to_thread(processes_of, deploy_root)

    try:
        await eventually(all_gone, within)
    except AssertionError:
        survivors = processes_of(deploy_root)
        for pid in survivors:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        raise AssertionError(
            f"the supervisor of {deploy_root} left processes running (killed now): {survivors}; "
            f"supervisorctl shutdown said: {shutdown.stdout}{shutdown.stderr}"
        ) from None


class ServiceProcess:
    """infra-service as its own process, configured by `settings`; its output goes to a file."""

    def __init__(self, settings: InfraSettings, log_file: Path) -> None:
        self.settings, self.log_file = settings, log_file
        self._process: processes.ServiceProcess | None = None

    def start(self) -> None:
        self._process = processes.ServiceProcess([str(INFRA_SERVICE)], self.env(), self.log_file)

    def env(self) -> dict[str, str]:
        """What the service reads: its settings, its secret variables, and a PATH with git."""
        env = {k: v for k, v in os.environ.items() if k in _INHERITED}
        prefix = self.settings.secret_env_prefix
        env |= {k: v for k, v in os.environ.items() if k.startswith(prefix)}
        return env | settings_env(self.settings) | {"PYTHONUNBUFFERED": "1"}

    def stop(self, within: float = 60) -> None:
        """SIGTERM, and fail (after killing it) if the service is not gone within `within` s."""
        if self._process is not None:
            self._process.stop(within)

    @property
    def exit_code(self) -> int | None:
        return None if self._process is None else self._process.exit_code

    @property
    def pid(self) -> int:
        assert self._process is not None, "not started"
        return self._process.pid

    def logs(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


# The console script installed with the service, as its image runs it.
INFRA_SERVICE = Path(sys.executable).parent / "infra-service"
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "USER")


class Harness:
    """infra-service running as its own process, the API it writes to, and the queues it reads."""

    def __init__(
        self, service: ServiceProcess, redis: Redis, api: httpx.AsyncClient, tmp: Path
    ) -> None:
        self.service, self.redis, self.api, self.tmp = service, redis, api, tmp
        self.publisher = RedisStreamPublisher(redis)

    async def results(self, stream: str) -> list[dict[str, Any]]:
        raw = cast(list[tuple[str, dict[str, str]]], await self.redis.xrange(stream))
        return [json.loads(fields["data"]) for _, fields in raw]

    async def deploy(self, message: AnsibleDeployMessage, within: float = 300) -> dict[str, Any]:
        return await self._ask("ansible:deploy:queue", "deploy:results", message, within)

    async def provision(self, message: ProvisionerMessage, within: float = 300) -> dict[str, Any]:
        return await self._ask("provisioner:queue", "provisioner:results", message, within)

    async def check(self, message: ServerHealthCheck, within: float = 60) -> dict[str, Any]:
        return await self._ask("infra:health:queue", "infra:health:results", message, within)

    async def _ask(self, queue: str, results: str, message: Any, within: float) -> dict[str, Any]:
        before = len(await self.results(results))
        await self.publisher.publish(queue, message)

        async def answered() -> list[dict[str, Any]]:
            # A result repeats its request's request_id (and correlation_id).
            fresh = (await self.results(results))[before:]
            return [r for r in fresh if r["request_id"] == message.request_id]

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


def local_deploy(
    repo: Path, sha: str, port: int, project: dict[str, Any], **fields: Any
) -> AnsibleDeployMessage:
    """A deploy of `repo` at `sha` to the `local` server on `port`, for a deploy task of its own
    unless `task_id` is given."""
    return AnsibleDeployMessage(
        task_id=fields.pop("task_id", f"task-{uuid.uuid4().hex}"),
        project_id=project["id"],
        project_name=project["name"],
        repo_full_name=str(repo),
        commit_sha=sha,
        server="local",
        port=port,
        **fields,
    )
