"""scaffolder as a real process with the real API, Redis, Postgres, copier, git and the
service template: a project's repository is created once, whatever is asked or killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from pydantic import SecretStr
from redis.asyncio import Redis
from scaffolder.config import DEFAULT_TEMPLATE, ScaffolderSettings
from shared.contracts import ScaffolderMessage, parse_project_file
from shared.streams import RedisStreamPublisher
from shared.testing.fake_github import FakeGitHub
from shared.testing.git import git
from shared.testing.processes import ServiceProcess, settings_env
from shared.testing.waiting import eventually

SCAFFOLDER = str(Path(sys.executable).parent / "scaffolder")
RESULTS = "scaffolder:results"


class Scaffolder:
    def __init__(self, settings: ScaffolderSettings, log: Path) -> None:
        self.settings, self.log = settings, log
        self.process: ServiceProcess | None = None

    def start(self) -> None:
        env = {"PATH": os.environ["PATH"], "HOME": str(self.log.parent)}
        self.process = ServiceProcess([SCAFFOLDER], env | settings_env(self.settings), self.log)

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()

    def kill(self) -> None:
        assert self.process is not None
        self.process.process.send_signal(signal.SIGKILL)
        self.process.process.wait(30)


@pytest.fixture
def settings(live_api: LiveApi, redis_url: str, tmp_path: Path) -> ScaffolderSettings:
    return ScaffolderSettings(
        redis_url=redis_url,
        api_url=live_api.url,
        api_key=live_api.service_key,
        data_dir=tmp_path / "scaffolder",
        template_dir=DEFAULT_TEMPLATE,
        forge_first_delay_s=0.1,
        claim_idle_s=2,
        shutdown_grace_s=20,
    )


@pytest.fixture
def scaffolder(settings: ScaffolderSettings, tmp_path: Path) -> Iterator[Scaffolder]:
    service = Scaffolder(settings, tmp_path / "scaffolder.log")
    service.start()
    try:
        yield service
    finally:
        service.stop()


@pytest_asyncio.fixture
async def api(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
    ) as client:
        yield client


async def new_project(api: httpx.AsyncClient, live_api: LiveApi, name: str) -> dict[str, Any]:
    response = await api.post(
        "/api/projects",
        json={"name": name, "modules": ["backend"], "owner_id": live_api.admin_user_id},
    )
    assert response.status_code == 201, response.text
    return cast(dict[str, Any], response.json())


async def result_of(redis: Redis, request_id: str, within: float = 180) -> dict[str, Any]:
    async def find() -> dict[str, Any] | None:
        entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(RESULTS))
        for _, fields in entries:
            data = json.loads(fields["data"])
            if data["request_id"] == request_id:
                return cast(dict[str, Any], data)
        return None

    found = await eventually(find, within)
    assert found is not None
    return found


async def progress_of(redis: Redis, task_id: str) -> list[dict[str, Any]]:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(f"task_progress:{task_id}"))
    return [json.loads(fields["data"]) for _, fields in entries]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("modules", [["backend"], ["telegram"], ["telegram", "backend"]])
async def test_a_project_gets_its_repository_and_the_api_knows_it(
    scaffolder: Scaffolder,
    settings: ScaffolderSettings,
    api: httpx.AsyncClient,
    live_api: LiveApi,
    redis_client: Redis,
    modules: list[str],
) -> None:
    project = await new_project(api, live_api, "todo")
    message = ScaffolderMessage(
        project_id=project["id"], project_name="todo", modules=modules, task_id="t-1"
    )
    await RedisStreamPublisher(redis_client).publish("scaffolder:queue", message)

    result = await result_of(redis_client, message.request_id)

    assert result["status"] == "success", result
    bare = settings.repositories_dir / "todo.git"
    assert result["repo_url"] == str(bare)
    assert git(bare, "rev-parse", "main") == result["commit_sha"]
    assert git(bare, "rev-list", "--count", "main") == "1"
    files = git(bare, "ls-tree", "-r", "--name-only", "main").splitlines()
    assert ".project.yml" in files
    assert {name.split("/")[0] for name in files if "/" in name} >= set(modules)
    rendered = parse_project_file(git(bare, "show", "main:.project.yml"))
    assert list(rendered.services) == sorted(modules)  # the template's order: backend first
    assert result["files_generated"] == len(files)
    stored = (await api.get(f"/api/projects/{project['id']}")).json()
    assert (stored["status"], stored["repository_url"]) == ("scaffolded", str(bare))
    kinds = [event["type"] for event in await progress_of(redis_client, "t-1")]
    assert (kinds[0], kinds[-1]) == ("started", "completed")
    assert not any((settings.scratch_dir).iterdir())


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    ("fields", "error", "project_status"),
    [
        ({"modules": ["backend", "frontend"]}, "unknown module", "failed"),
        ({"project_id": "no-such-project"}, "no project no-such-project", "draft"),
    ],
)
async def test_a_bad_request_fails_with_its_reason_and_leaves_no_repository(
    scaffolder: Scaffolder,
    settings: ScaffolderSettings,
    api: httpx.AsyncClient,
    live_api: LiveApi,
    redis_client: Redis,
    fields: dict[str, Any],
    error: str,
    project_status: str,
) -> None:
    project = await new_project(api, live_api, "todo")
    values: dict[str, Any] = {
        "project_id": project["id"],
        "project_name": "todo",
        "modules": ["backend"],
        "task_id": "t-2",
    }
    message = ScaffolderMessage.model_validate({**values, **fields})
    await RedisStreamPublisher(redis_client).publish("scaffolder:queue", message)

    result = await result_of(redis_client, message.request_id)

    assert result["status"] == "failed"
    assert error in result["error"]
    assert not (settings.repositories_dir / "todo.git").exists()
    stored = (await api.get(f"/api/projects/{project['id']}")).json()
    assert stored["status"] == project_status
    assert (await progress_of(redis_client, "t-2"))[-1]["type"] == "failed"


HOLD_PUSH = """#!/bin/sh
# Holds the first push until the test releases it; says it was reached.
touch "{reached}"
while [ ! -e "{release}" ]; do sleep 0.05; done
exit 1
"""


@pytest.mark.timeout(300)
async def test_a_scaffolder_killed_mid_push_leaves_one_repository_with_one_commit(
    settings: ScaffolderSettings,
    api: httpx.AsyncClient,
    live_api: LiveApi,
    redis_client: Redis,
    tmp_path: Path,
) -> None:
    project = await new_project(api, live_api, "todo")
    # The repository exists (empty) with a hook that holds the first push.
    bare = settings.repositories_dir / "todo.git"
    bare.parent.mkdir(parents=True)
    git(bare.parent, "init", "--quiet", "--bare", "--initial-branch=main", str(bare))
    reached, release = tmp_path / "reached", tmp_path / "release"
    hook = bare / "hooks" / "pre-receive"
    hook.write_text(HOLD_PUSH.format(reached=reached, release=release))
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)

    first = Scaffolder(settings, tmp_path / "first.log")
    first.start()
    message = ScaffolderMessage(project_id=project["id"], project_name="todo", modules=["backend"])
    try:
        await RedisStreamPublisher(redis_client).publish("scaffolder:queue", message)
        await eventually(lambda: _exists(reached), 120)
        first.kill()
    finally:
        release.touch()
        first.stop()
    hook.unlink()
    assert git(bare, "rev-list", "--all") == ""  # the killed push landed nothing

    second = Scaffolder(settings, tmp_path / "second.log")
    second.start()
    try:
        result = await result_of(redis_client, message.request_id)
    finally:
        second.stop()

    assert result["status"] == "success", result
    assert git(bare, "rev-list", "--count", "main") == "1"
    assert sorted(path.name for path in settings.repositories_dir.iterdir()) == ["todo.git"]


async def _exists(path: Path) -> bool:
    return await asyncio.to_thread(path.exists)


@pytest.mark.timeout(300)
async def test_on_github_the_repository_is_created_by_the_app_and_no_token_leaks(
    settings: ScaffolderSettings,
    api: httpx.AsyncClient,
    live_api: LiveApi,
    redis_client: Redis,
    tmp_path: Path,
) -> None:
    with FakeGitHub(tmp_path / "github", owner="acme") as github:
        on_github = settings.model_copy(
            update={
                "forge": "github",
                "github_api_url": github.api_url,
                "github_app_id": str(github.app_id),
                "github_private_key": SecretStr(github.private_key_pem),
                "github_owner": "acme",
                "github_owner_kind": "org",
            }
        )
        service = Scaffolder(on_github, tmp_path / "github-scaffolder.log")
        service.start()
        try:
            project = await new_project(api, live_api, "todo")
            message = ScaffolderMessage(
                project_id=project["id"], project_name="todo", modules=["backend"]
            )
            await RedisStreamPublisher(redis_client).publish("scaffolder:queue", message)
            result = await result_of(redis_client, message.request_id)
        finally:
            service.stop()

        assert result["status"] == "success", result
        assert result["repo_url"] == github.clone_url("acme/todo")
        bare = github.repositories["acme/todo"]
        assert git(bare, "rev-parse", "main") == result["commit_sha"]
        for issued in github.tokens:
            assert not github.seen(f"/{issued.token}"), "a token in a URL"
        logs = (tmp_path / "github-scaffolder.log").read_text()
        assert all(issued.token not in logs for issued in github.tokens)
        stored = (await api.get(f"/api/projects/{project['id']}")).json()
        assert stored["repository_url"] == github.clone_url("acme/todo")
