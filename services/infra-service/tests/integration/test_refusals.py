"""What can never succeed is refused before any effect, answered at once, and runs nothing it
names: injected options, projects the API does not know, ports that belong to another project."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from infra_service.adapters.git_sources import GitSources
from infra_service.domain.sources import SourceUnavailable
from infra_testing import Harness, tiny_app_repo
from shared.contracts import AnsibleDeployMessage
from shared.testing.git import git
from shared.testing.hostile import command_strings, dead_letters, settled, xadd_raw
from shared.testing.servers import free_port

QUEUE, RESULTS, GROUP = "ansible:deploy:queue", "deploy:results", "infra-service"


def message(repo: Path, project: dict[str, Any], **fields: Any) -> AnsibleDeployMessage:
    return AnsibleDeployMessage.model_validate(
        {
            "task_id": f"task-{uuid.uuid4().hex}",
            "project_id": project["id"],
            "project_name": project["name"],
            "repo_full_name": str(repo),
            "commit_sha": git(repo, "rev-parse", "HEAD"),
            "server": "local",
            "port": free_port(),
            **fields,
        }
    )


async def test_option_injection_in_a_repository_reference_runs_nothing_and_is_accounted_for(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    marker = tmp_path / "injected"
    project = await harness.project("tiny")
    base = json.loads(message(tiny_app_repo(tmp_path), project).model_dump_json())
    injections = [s for s in command_strings(marker) if "touch" in s]
    requests = []
    for n, injected in enumerate(injections):
        body = base | {"repo_full_name": injected, "request_id": f"inject-{n}"}
        # Written as an attacker would: past the contract's checks.
        await xadd_raw(harness.redis, QUEUE, [b"data", json.dumps(body).encode()])
        requests.append(body["request_id"])

    await settled(harness.redis, QUEUE, GROUP, within=120)

    letters = await dead_letters(harness.redis, QUEUE)
    assert all(letter.reason and letter.error for letter in letters.values())
    answered = [r for r in await harness.results(RESULTS) if r["status"] == "error"]
    assert len(answered) + len(letters) == len(injections)
    assert not marker.exists(), "an injected command ran"
    assert await harness.get("/api/service-deployments", project_id=project["id"]) == []


@pytest.mark.parametrize(
    "repo_url",
    [
        "--upload-pack=touch {marker}",
        "--upload-pack=touch {marker} #://x",
        "ext::sh -c touch% {marker}",
    ],
)
async def test_git_never_reads_a_repository_as_an_option_or_a_command(
    tmp_path: Path, repo_url: str
) -> None:
    """The adapter alone, as if the domain's check had let the reference through."""
    marker = tmp_path / "injected"
    repo = tiny_app_repo(tmp_path)
    dest = tmp_path / "job" / "source"
    dest.parent.mkdir()

    with pytest.raises(SourceUnavailable):
        await GitSources(timeout_s=60).archive(
            repo_url.format(marker=marker), git(repo, "rev-parse", "HEAD"), dest, None
        )

    assert not marker.exists()


async def test_a_deploy_of_a_project_the_api_does_not_know_is_refused_before_anything_runs(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    project = {"id": "0" * 32, "name": "ghost"}

    result = await harness.deploy(message(tiny_app_repo(tmp_path), project))

    assert result["status"] == "error"
    assert "is not known" in result["error"]
    assert await harness.get("/api/service-deployments", project_id=project["id"]) == []
    assert await harness.get("/api/port-allocations", project_id=project["id"]) == []


async def test_a_deploy_whose_name_is_not_its_projects_is_refused(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    project = await harness.project("tiny")

    result = await harness.deploy(message(tiny_app_repo(tmp_path), project | {"name": "other"}))

    assert result["status"] == "error"
    assert "is named 'tiny', not 'other'" in result["error"]
    assert await harness.get("/api/service-deployments", project_id=project["id"]) == []


async def test_a_port_allocated_to_another_project_is_refused_at_once_and_nothing_deployed(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    owner, intruder = await harness.project("owner"), await harness.project("intruder")
    port = free_port()
    taken = await harness.api.post(
        "/api/port-allocations",
        json={
            "server_id": local_server["id"],
            "project_id": owner["id"],
            "service_name": "web",
            "port": port,
        },
    )
    taken.raise_for_status()

    result = await harness.deploy(message(tiny_app_repo(tmp_path), intruder, port=port))
    # The API's 409 is the answer: no retry, nothing left pending.
    await settled(harness.redis, QUEUE, GROUP, within=60)

    assert result["status"] == "error"
    assert "409" in result["error"]
    assert f"port {port} is taken" in result["error"]
    assert await harness.get("/api/service-deployments", project_id=intruder["id"]) == []
    assert "handler failed" not in harness.service.logs()
