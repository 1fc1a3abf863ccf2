"""The `local` target: real ansible-runner and playbooks deploy the tiny app on this machine."""

from __future__ import annotations

import asyncio
import errno
import functools
import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from infra_testing import (
    CANARY,
    PROJECT_FILE,
    Harness,
    commit,
    local_deploy,
    stop_supervisor,
    tiny_app_repo,
)
from shared.contracts import ProvisionerMessage
from shared.testing.git import git
from shared.testing.servers import free_port
from shared.testing.waiting import eventually

# Real deploys: some twenty Ansible tasks each, every one a module process; a deploy takes 20 s
# on a quiet 2-core machine and over a minute on a busy one. A bound, not a speed requirement.
pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.slow("real deploys (Ansible module processes), up to three in one test"),
]


def health(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/health", timeout=5)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_commit_is_deployed_and_answers_on_its_health_path(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    repo = tiny_app_repo(tmp_path)
    sha = commit(repo, "2")
    project = await harness.project("tiny")
    # As the deploy flow does: the project's port is allocated under its name, then deployed.
    allocated = await harness.api.post(
        "/api/port-allocations",
        json={
            "server_id": local_server["id"],
            "project_id": project["id"],
            "service_name": project["name"],
            "port": free_port(),
        },
    )
    allocated.raise_for_status()
    port = allocated.json()["port"]
    message = local_deploy(repo, sha, port, project, secrets_ref="env:CANARY_SECRETS")

    result = await harness.deploy(message)

    assert result["status"] == "success", (result["error"], result["stdout_tail"])
    # The result repeats the request's ids: the requester's wait is matched by request_id.
    assert (result["request_id"], result["correlation_id"], result["task_id"]) == (
        message.request_id,
        message.correlation_id,
        message.task_id,
    )
    assert result["deployed_url"] == f"http://127.0.0.1:{port}"
    assert result["health_url"] == f"http://127.0.0.1:{port}/health"
    assert result["exit_code"] == 0
    async with httpx.AsyncClient(timeout=5) as client:
        assert (await client.get(result["health_url"])).status_code == 200
    served = health(result["deployed_url"])
    assert served["version"] == "2"
    assert served["canary_sha256"] == hashlib.sha256(CANARY.encode()).hexdigest()
    inherited = {name for name in served["environment"] if not name.startswith("SUPERVISOR_")}
    # What the service gets: the supervisor's clean environment, its port and its secrets.
    assert inherited == {"PATH", "HOME", "LANG", "PWD", "PORT", "CANARY", "OTHER"}
    [deployment] = await harness.get("/api/service-deployments", project_id=project["id"])
    assert deployment["status"] == "running"
    assert deployment["commit_sha"] == sha
    assert deployment["url"] == result["deployed_url"]
    # The entry point runs on the caller's allocation; it is recorded under its own name.
    assert (deployment["service_name"], deployment["port"]) == ("web", port)
    [allocation] = await harness.get("/api/port-allocations", project_id=project["id"])
    assert (allocation["service_name"], allocation["port"]) == ("tiny", port)


async def test_the_same_commit_again_changes_nothing_and_a_new_commit_replaces_it(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    repo = tiny_app_repo(tmp_path)
    first = git_head(repo)
    project = await harness.project("tiny")
    port = free_port()
    deployed = await harness.deploy(local_deploy(repo, first, port, project))
    before = health(deployed["deployed_url"])

    again = await harness.deploy(local_deploy(repo, first, port, project))
    unchanged = health(deployed["deployed_url"])
    second = commit(repo, "2")
    replaced = await harness.deploy(local_deploy(repo, second, port, project))
    after = health(deployed["deployed_url"])

    assert [deployed["status"], again["status"], replaced["status"]] == ["success"] * 3
    assert unchanged == before, "redeploying the same commit restarted the app"
    assert after["version"] == "2"
    assert after["pid"] != before["pid"]
    [deployment] = await harness.get("/api/service-deployments", project_id=project["id"])
    assert deployment["commit_sha"] == second


def git_head(repo: Path) -> str:
    return git(repo, "rev-parse", "HEAD")


def gated_project_file(mark: Path, gate: Path) -> str:
    """The tiny app, whose build says it started (the mark) and waits for the test (the gate)."""
    build = f"touch BUILT {mark} && timeout 120 sh -c 'read _ < {gate}'"
    return PROJECT_FILE.replace(PROJECT_FILE.splitlines()[2].strip(), f'build: "{build}"')


def release(gate: Path) -> bool:
    """Let the build held on this FIFO go on, if it is reading it now."""
    try:
        descriptor = os.open(gate, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # nobody reads it (yet)
            return False
        raise
    try:
        os.write(descriptor, b"go\n")
    finally:
        os.close(descriptor)
    return True


async def test_two_deploys_run_at_once_and_another_queue_is_answered_while_they_run(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    names = ("a", "b")
    marks = {name: tmp_path / f"building-{name}" for name in names}
    gates = {name: tmp_path / f"gate-{name}" for name in names}
    for gate in gates.values():
        os.mkfifo(gate)
    repos = {
        name: tiny_app_repo(tmp_path / name, gated_project_file(marks[name], gates[name]))
        for name in names
    }
    projects = {name: await harness.project(f"app-{name}") for name in names}
    deploys = {
        name: asyncio.create_task(
            harness.deploy(
                local_deploy(repos[name], git_head(repos[name]), free_port(), projects[name])
            )
        )
        for name in names
    }

    async def both_building() -> bool:
        return all(mark.exists() for mark in marks.values())

    released: set[str] = set()
    try:
        # Both builds started and neither can finish: two jobs in flight at once.
        await eventually(both_building, 120)
        provisioned = await harness.provision(ProvisionerMessage(server_handle="local"), within=30)
        held = [name for name, task in deploys.items() if not task.done()]
        for name in names:
            await eventually(functools.partial(asyncio.to_thread, release, gates[name]), 30)
            released.add(name)
        results = await asyncio.gather(*deploys.values())
    finally:
        # On a failure above, builds still held are let go, so that nothing waits on them.
        for name in set(names) - released:
            release(gates[name])
        for task in deploys.values():
            task.cancel()

    assert provisioned["status"] == "success", provisioned["error"]
    assert held == list(names), "a deploy finished while its build was held"
    assert [r["status"] for r in results] == ["success", "success"], [r["error"] for r in results]


async def test_the_local_server_is_provisioned_with_a_deploy_root_and_its_supervisor(
    harness: Harness, deploy_root: Path
) -> None:
    server = await harness.server(name="local", address="127.0.0.1", is_local=True)

    result = await harness.provision(ProvisionerMessage(server_handle="local"))

    assert result["status"] == "success", result["error"]
    assert (await harness.get(f"/api/servers/{server['id']}"))["status"] == "active"
    assert (deploy_root / "run" / "supervisord.pid").exists()
    assert set(await asyncio.to_thread(os.listdir, deploy_root)) >= {"programs", "projects", "run"}

    await stop_supervisor(deploy_root)
    unforced = await harness.provision(ProvisionerMessage(server_handle="local"))
    stopped = (deploy_root / "run" / "supervisord.pid").exists()
    forced = await harness.provision(
        ProvisionerMessage(server_handle="local", force_reinstall=True)
    )

    assert unforced["status"] == "success"
    assert not stopped, "an active server was set up again without force_reinstall"
    assert forced["status"] == "success"
    assert (deploy_root / "run" / "supervisord.pid").exists()


async def test_a_release_that_does_not_come_up_leaves_the_previous_one_running(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    repo = tiny_app_repo(tmp_path)
    project = await harness.project("tiny")
    port = free_port()
    first = git_head(repo)
    good = await harness.deploy(local_deploy(repo, first, port, project))
    (repo / ".project.yml").write_text(
        "services:\n  web:\n    run: exec python3 -c 'raise SystemExit(3)'\n    health: /health\n"
    )
    broken = commit(repo, "2")

    result = await harness.deploy(local_deploy(repo, broken, port, project))

    assert good["status"] == "success"
    assert result["status"] == "failed"
    assert "did not come up (Each service answers on its health path)" in result["error"]
    assert "the previous release runs again" in result["error"]
    # Where the caller's smoke check would look: the previous release answers there.
    assert result["health_url"] == f"{good['deployed_url']}/health"
    assert (await asyncio.to_thread(health, good["deployed_url"]))["version"] == "1"
    [deployment] = await harness.get("/api/service-deployments", project_id=project["id"])
    assert (deployment["status"], deployment["commit_sha"]) == ("running", first)


async def test_a_project_named_like_the_start_of_another_leaves_its_programs_alone(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    """`shop` cleans up its own programs only: not those of `shop-2`, deployed before it."""
    deployed = {}
    for name in ("shop-2", "shop"):
        repo = tiny_app_repo(tmp_path / name)
        project = await harness.project(name)
        result = await harness.deploy(local_deploy(repo, git_head(repo), free_port(), project))
        assert result["status"] == "success", (result["error"], result["stdout_tail"])
        deployed[name] = result["deployed_url"]

    assert health(deployed["shop-2"])["version"]
    assert health(deployed["shop"])["version"]
