"""Repository sync with a real scheduler, Redis, API and git: a repository that vanished from the
forge is one incident however many runs see it gone, resolved once it is back; the project is
left as it was; a URL that is not the forge's never reaches git."""

from __future__ import annotations

import shutil
import stat
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from api.testing import LiveApi
from redis.asyncio import Redis
from scheduler_testing import SchedulerProcess, runs, scheduler_settings, wait_for_runs
from shared.contracts import JobOutcome
from shared.testing.fake_github import FakeGitHub
from shared.testing.waiting import eventually

JOB = "repository_sync"
StartScheduler = Callable[..., SchedulerProcess]
INTERVAL_S = 0.5
GIT = shutil.which("git") or "/usr/bin/git"


@pytest_asyncio.fixture
async def api(live_api: LiveApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=live_api.url, headers={"Authorization": f"Bearer {live_api.service_key}"}
    ) as client:
        yield client


@pytest.fixture
def forge_dir(tmp_path: Path) -> Path:
    path = tmp_path / "forge"
    path.mkdir()
    return path


@pytest.fixture
def recording_git(tmp_path: Path) -> tuple[Path, Path]:
    """A `git` first on the scheduler's PATH that writes its arguments to a file (one line per
    call, each argument ended by \\x1f), then runs the real one: (its directory, the record)."""
    directory, record = tmp_path / "bin", tmp_path / "git-calls"
    directory.mkdir()
    wrapper = directory / "git"
    wrapper.write_text(
        "#!/bin/sh\n"
        f"for a in \"$@\"; do printf '%s\\037' \"$a\" >> '{record}'; done\n"
        f"printf '\\n' >> '{record}'\n"
        f'exec {GIT} "$@"\n'
    )
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    record.touch()
    return directory, record


def git_calls(record: Path) -> list[list[str]]:
    return [line.split("\x1f")[:-1] for line in record.read_text().splitlines() if line]


def bare_repository(path: Path) -> Path:
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", "--", str(path)], check=True
    )
    return path


async def project(
    api: httpx.AsyncClient, live_api: LiveApi, name: str, repository_url: str | None
) -> dict[str, Any]:
    """A project as scaffolder leaves it: `scaffolded` with its repository (`draft` without)."""
    response = await api.post(
        "/api/projects",
        json={"name": name, "modules": ["backend"], "owner_id": live_api.admin_user_id},
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    if repository_url is None:
        return created
    for change in (
        {"status": "scaffolding"},
        {"status": "scaffolded", "repository_url": repository_url},
    ):
        response = await api.patch(f"/api/projects/{created['id']}", json=change)
        assert response.status_code == 200, response.text
    scaffolded: dict[str, Any] = response.json()
    return scaffolded


async def incidents_titled(api: httpx.AsyncClient, title: str) -> list[dict[str, Any]]:
    response = await api.get("/api/incidents", params={"limit": 500})
    assert response.status_code == 200, response.text
    return [incident for incident in response.json() if incident["title"] == title]


async def incident_titles(api: httpx.AsyncClient) -> list[str]:
    response = await api.get("/api/incidents", params={"limit": 500})
    return [incident["title"] for incident in response.json()]


async def more_runs(redis: Redis, count: int) -> None:
    """Wait for `count` runs of the job after those recorded now."""
    done = len(await runs(redis, JOB))
    await wait_for_runs(redis, JOB, done + count)


@pytest.fixture
def start_scheduler(redis_url: str, live_api: LiveApi, tmp_path: Path) -> Iterator[StartScheduler]:
    """Starts schedulers running only repository sync, every INTERVAL_S; stops them all."""
    started: list[SchedulerProcess] = []

    def start(extra_env: dict[str, str] | None = None, **fields: Any) -> SchedulerProcess:
        settings = scheduler_settings(
            redis_url=redis_url,
            api_url=live_api.url,
            api_key=live_api.service_key,
            repository_sync_interval_s=INTERVAL_S,
            **fields,
        )
        process = SchedulerProcess(
            settings, tmp_path / f"scheduler-{len(started)}.log", extra_env=extra_env
        )
        started.append(process)
        return process

    try:
        yield start
    finally:
        for process in started:
            process.stop()


@pytest.mark.timeout(120)
async def test_a_deleted_repository_is_one_incident_over_several_runs_resolved_once_it_is_back(
    api: httpx.AsyncClient,
    live_api: LiveApi,
    redis_client: Redis,
    forge_dir: Path,
    recording_git: tuple[Path, Path],
    start_scheduler: StartScheduler,
) -> None:
    shop = bare_repository(forge_dir / "shop.git")
    blog = bare_repository(forge_dir / "blog.git")
    shop_project = await project(api, live_api, "shop", str(shop))
    await project(api, live_api, "blog", f"file://{blog}")
    await project(api, live_api, "draft-idea", None)
    bin_dir, record = recording_git
    start_scheduler(
        extra_env={"PATH": f"{bin_dir}:{Path(GIT).parent}"},
        forge="local",
        local_forge_dir=forge_dir,
    )
    first = (await wait_for_runs(redis_client, JOB, 1))[0]
    assert first.outcome is JobOutcome.SUCCEEDED, first
    assert first.summary["checked"] == 2
    assert first.summary["missing"] == 0
    assert await incident_titles(api) == []

    shutil.rmtree(shop)
    await more_runs(redis_client, 4)

    title = "Repository of project shop is gone"
    [incident] = await incidents_titled(api, title)
    assert incident["status"] == "open"
    assert incident["severity"] == "high"
    assert str(shop) in incident["details"]
    assert await incident_titles(api) == [title]
    latest = (await runs(redis_client, JOB))[-1]
    assert latest.summary["missing"] == 1
    assert latest.summary["opened"] == 0  # told once, by an earlier run
    unchanged = (await api.get(f"/api/projects/{shop_project['id']}")).json()
    assert unchanged["status"] == "scaffolded"
    assert unchanged["repository_url"] == str(shop)

    bare_repository(shop)

    async def resolved() -> list[dict[str, Any]] | None:
        found = await incidents_titled(api, title)
        return found if found and found[0]["status"] == "resolved" else None

    [done] = await eventually(resolved, within=30)
    assert done["id"] == incident["id"]
    assert done["details"].startswith(incident["details"])
    assert "there again" in done["details"]
    await more_runs(redis_client, 2)
    assert len(await incidents_titled(api, title)) == 1
    assert all(run.outcome is JobOutcome.SUCCEEDED for run in await runs(redis_client, JOB))
    # git only ever read the forge's repositories.
    calls = git_calls(record)
    assert calls
    assert {call[-1] for call in calls} <= {str(shop), str(blog)}
    assert all(call[-2] == "--" for call in calls)


@pytest.mark.timeout(120)
async def test_urls_that_are_not_the_forges_never_reach_git_and_raise_nothing(
    api: httpx.AsyncClient,
    live_api: LiveApi,
    redis_client: Redis,
    forge_dir: Path,
    recording_git: tuple[Path, Path],
    start_scheduler: StartScheduler,
    tmp_path: Path,
) -> None:
    marker = tmp_path / "pwned"
    outside = bare_repository(tmp_path / "elsewhere.git")
    (forge_dir / "link.git").symlink_to(outside)
    # A few of each kind (the adapter's tests try them all): options, commands, other
    # transports, paths out of the forge.
    hostile = [
        f"--upload-pack=touch {marker}",
        f"-u touch {marker}",
        f"$(touch {marker})",
        f"{forge_dir}/shop.git\n--upload-pack=touch {marker}",
        f"ext::sh -c touch% {marker}",
        "fd::17",
        "ssh://example.com/shop.git",
        f"file://{outside}",
        f"{forge_dir}/../elsewhere.git",
        str(forge_dir / "link.git"),
    ]
    for n, url in enumerate(hostile):
        await project(api, live_api, f"hostile-{n}", url)
    bin_dir, record = recording_git
    start_scheduler(
        extra_env={"PATH": f"{bin_dir}:{Path(GIT).parent}"},
        forge="local",
        local_forge_dir=forge_dir,
    )

    [run, *_] = await wait_for_runs(redis_client, JOB, 2)

    assert run.outcome is JobOutcome.SUCCEEDED, run
    assert run.summary["checked"] == len(hostile)
    assert run.summary["unknown"] == len(hostile)
    assert run.summary["missing"] == 0
    assert await incident_titles(api) == []
    assert git_calls(record) == []
    assert not marker.exists()


@pytest.mark.timeout(120)
async def test_on_github_a_deleted_repository_is_told_and_the_apps_key_is_in_no_log(
    api: httpx.AsyncClient,
    live_api: LiveApi,
    redis_client: Redis,
    start_scheduler: StartScheduler,
    tmp_path: Path,
) -> None:
    with FakeGitHub(tmp_path / "github", owner="acme") as github:
        github.create_repository("shop")
        github.create_repository("blog")
        await project(api, live_api, "shop", github.clone_url("acme/shop"))
        await project(api, live_api, "blog", github.clone_url("acme/blog"))
        scheduler = start_scheduler(
            extra_env={"CODEGEN_SECRET_GITHUB_APP_KEY": github.private_key_pem},
            forge="github",
            github_api_url=github.api_url,
            github_app_id=str(github.app_id),
            github_private_key_ref="env:GITHUB_APP_KEY",
            github_owner="acme",
        )
        first = (await wait_for_runs(redis_client, JOB, 1))[0]
        assert first.summary["checked"] == 2
        assert first.summary["missing"] == 0

        github.delete_repository("acme/shop")
        await more_runs(redis_client, 3)

        [incident] = await incidents_titled(api, "Repository of project shop is gone")
        assert incident["status"] == "open"
        assert await incident_titles(api) == ["Repository of project shop is gone"]
        jwts = {
            header.removeprefix("Bearer ")
            for request in github.requests
            if (header := request.header("Authorization"))
        }
        scheduler.stop()
    log = scheduler.process.logs()
    assert jwts
    assert not any(jwt in log for jwt in jwts)
    key_lines = [line for line in github.private_key_pem.splitlines() if "PRIVATE KEY" not in line]
    assert not any(line in log for line in key_lines)
    assert github.private_key_pem not in " ".join(scheduler.process.argv)
