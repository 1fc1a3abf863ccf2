"""The langgraph service as a real process for tests, and what its tests do to it."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
from api.testing import LiveApi
from langgraph_service.config import LanggraphSettings
from psycopg import sql
from redis.asyncio import Redis
from shared.contracts import DeployMessage, EngineeringMessage
from shared.streams import RedisStreamPublisher
from shared.testing.processes import ServiceProcess, settings_env
from shared.testing.waiting import eventually

LANGGRAPH = str(Path(sys.executable).parent / "langgraph-service")
TERMINAL = {"completed", "failed", "cancelled"}


def fast_settings(live_api: LiveApi, redis_url: str, **overrides: Any) -> LanggraphSettings:
    values: dict[str, Any] = {
        "redis_url": redis_url,
        "api_url": live_api.url,
        "api_key": live_api.service_key,
        "database_url": live_api.database_url,
        "developer_agent": "scripted",
        "sweep_interval_s": 0.2,
        "stalled_after_s": 1.0,
        "claim_idle_s": 2,
        "smoke_first_delay_s": 0.05,
        "shutdown_grace_s": 10,
        "log_format": "json",
    }
    return LanggraphSettings(**(values | overrides))


class Langgraph:
    """langgraph-service processes (replicas, or one after another after a crash); every one
    started is stopped at the end."""

    def __init__(self, settings: LanggraphSettings, log: Path) -> None:
        self.settings, self.log = settings, log
        self.processes: list[ServiceProcess] = []

    @property
    def process(self) -> ServiceProcess:
        return self.processes[-1]

    def start(self, **overrides: Any) -> ServiceProcess:
        settings = self.settings.model_copy(update=overrides)
        env = {"PATH": os.environ["PATH"], "HOME": str(self.log.parent)}
        process = ServiceProcess([LANGGRAPH], env | settings_env(settings), self.log)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def kill(self, process: ServiceProcess | None = None) -> None:
        process = process or self.process
        process.process.send_signal(signal.SIGKILL)
        process.process.wait(30)

    def running(self) -> bool:
        return bool(self.processes) and self.process.exit_code is None


class Api:
    """The API as the tests use it: a service's key."""

    def __init__(self, client: httpx.AsyncClient, live_api: LiveApi) -> None:
        self.client, self.live = client, live_api

    async def project(self, name: str, **fields: Any) -> dict[str, Any]:
        body = {"name": name, "modules": ["backend"], "owner_id": self.live.admin_user_id}
        response = await self.client.post("/api/projects", json=body)
        assert response.status_code == 201, response.text
        project = cast(dict[str, Any], response.json())
        if fields:
            response = await self.client.patch(f"/api/projects/{project['id']}", json=fields)
            assert response.status_code == 200, response.text
            project = response.json()
        return project

    async def scaffolded_project(self, name: str) -> dict[str, Any]:
        """A project as the scaffolder leaves it: a repository, status `scaffolded`."""
        project = await self.project(name, repository_url=f"/srv/repositories/{name}.git")
        for status in ("scaffolding", "scaffolded"):
            project = await self.patch_project(project, status=status)
        return project

    async def patch_project(self, project: dict[str, Any], **fields: Any) -> dict[str, Any]:
        response = await self.client.patch(f"/api/projects/{project['id']}", json=fields)
        assert response.status_code == 200, response.text
        return cast(dict[str, Any], response.json())

    async def tested_project(self, name: str, commit_sha: str) -> dict[str, Any]:
        """A project as engineering leaves it: scaffolded, its commit tested, ready to deploy."""
        project = await self.project(name, repository_url=f"/srv/repositories/{name}.git")
        for status in ("scaffolding", "scaffolded", "developing", "testing", "ready"):
            response = await self.client.patch(
                f"/api/projects/{project['id']}", json={"status": status}
            )
            assert response.status_code == 200, response.text
        response = await self.client.patch(
            f"/api/projects/{project['id']}", json={"commit_sha": commit_sha}
        )
        assert response.status_code == 200, response.text
        return cast(dict[str, Any], response.json())

    async def task(self, project: dict[str, Any], kind: str, spec: str = "Add /hello") -> str:
        body = {"project_id": project["id"], "type": kind, "spec": spec}
        response = await self.client.post("/api/tasks", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    async def get(self, path: str, **params: Any) -> Any:
        response = await self.client.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    async def finished(self, task_id: str, within: float = 60) -> dict[str, Any]:
        async def terminal() -> dict[str, Any] | None:
            task = await self.get(f"/api/tasks/{task_id}")
            return task if task["status"] in TERMINAL else None

        return await eventually(terminal, within)

    async def cancel(self, task_id: str) -> None:
        response = await self.client.patch(f"/api/tasks/{task_id}", json={"status": "cancelled"})
        assert response.status_code == 200, response.text

    async def server(self, name: str = "local") -> dict[str, Any]:
        found = await self.get("/api/servers", name=name)
        if found:
            return cast(dict[str, Any], found[0])
        body = {"name": name, "address": "127.0.0.1", "is_local": True, "status": "active"}
        response = await self.client.post("/api/servers", json=body)
        assert response.status_code == 201, response.text
        return cast(dict[str, Any], response.json())


async def engineering(redis: Redis, api: Api, project: dict[str, Any], task_id: str) -> None:
    await RedisStreamPublisher(redis).publish(
        "engineering:queue",
        EngineeringMessage(task_id=task_id, project_id=project["id"], user_id=project["owner_id"]),
    )


async def deploy(redis: Redis, project: dict[str, Any], task_id: str, **fields: Any) -> None:
    await RedisStreamPublisher(redis).publish(
        "deploy:queue",
        DeployMessage(
            task_id=task_id, project_id=project["id"], user_id=project["owner_id"], **fields
        ),
    )


async def flow_status(database_url: str, thread_id: str, schema: str = "langgraph") -> str | None:
    """The service's own record of a flow: running, waiting or done (None: never started)."""
    query = sql.SQL("select status from {}.flows where thread_id = %s")
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        try:
            cursor = await connection.execute(query.format(sql.Identifier(schema)), (thread_id,))
        except psycopg.errors.UndefinedTable:
            return None  # the service has not set its schema up yet
        row = await cursor.fetchone()
    return str(row[0]) if row else None


async def entries(redis: Redis, stream: str) -> list[dict[str, Any]]:
    raw = cast(list[tuple[str, dict[str, str]]], await redis.xrange(stream))
    return [json.loads(fields["data"]) for _, fields in raw]


@contextmanager
def live_site() -> Iterator[str]:
    """A deployed project's stand-in: answers 200 on every path."""

    class Ok(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Ok)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
