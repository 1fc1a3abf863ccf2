"""What goes wrong is reported, once, with what is needed to act on it."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from infra_testing import Harness, tiny_app_repo
from shared.contracts import AnsibleDeployMessage, ProvisionerMessage
from shared.streams.wire import DATA_FIELD, encode
from shared.testing.git import git
from shared.testing.servers import free_port
from shared.testing.waiting import eventually


def message(repo: Path | str, project: dict[str, Any], **fields: Any) -> AnsibleDeployMessage:
    return AnsibleDeployMessage.model_validate(
        {
            "task_id": f"task-{uuid.uuid4().hex}",
            "project_id": project["id"],
            "project_name": project["name"],
            "repo_full_name": str(repo),
            "commit_sha": git(Path(repo), "rev-parse", "HEAD") if Path(repo).exists() else "abcd",
            "server": "local",
            "port": free_port(),
            **fields,
        }
    )


async def test_an_unreachable_server_is_tried_three_times_then_marked_unreachable(
    harness: Harness, tmp_path: Path
) -> None:
    server = await harness.server(
        name="gone", address="127.0.0.1", ssh_port=free_port(), status="active"
    )
    project = await harness.project("tiny")

    result = await harness.deploy(message(tiny_app_repo(tmp_path), project, server="gone"))

    assert result["status"] == "failed"
    assert "unreachable after 3 attempts" in result["error"]
    assert result["exit_code"] == 4
    attempts = re.findall(r"server unreachable.*attempt=(\d)", harness.service.logs())
    assert attempts == ["1", "2", "3"]
    assert (await harness.get(f"/api/servers/{server['id']}"))["status"] == "unreachable"
    [incident] = await harness.get("/api/incidents", server_id=server["id"])
    assert incident["status"] == "open"
    assert incident["severity"] == "high"
    assert "unreachable" in incident["title"]
    # An unreachable server may still run the last release: nothing is recorded as deployed.
    assert await harness.get("/api/service-deployments", project_id=project["id"]) == []


async def test_provisioning_an_unreachable_server_opens_one_incident_however_often_asked(
    harness: Harness,
) -> None:
    server = await harness.server(name="gone", address="127.0.0.1", ssh_port=free_port())

    first = await harness.provision(ProvisionerMessage(server_handle="gone"))
    second = await harness.provision(ProvisionerMessage(server_handle=server["id"]))

    assert [first["status"], second["status"]] == ["failed", "failed"]
    assert first["server_handle"] == "gone"
    assert (await harness.get(f"/api/servers/{server['id']}"))["status"] == "unreachable"
    assert len(await harness.get("/api/incidents", server_id=server["id"])) == 1


async def test_a_failed_playbook_is_reported_with_its_exit_code_and_tails_and_not_retried(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    repo = tiny_app_repo(
        tmp_path, "services:\n  web:\n    build: echo building; exit 7\n    run: x\n    health: /\n"
    )
    project = await harness.project("tiny")
    deploy = message(repo, project)

    result = await harness.deploy(deploy)

    assert result["status"] == "failed"
    assert result["exit_code"] == 2
    assert "Build each service" in result["error"]
    assert "Build each service" in result["stdout_tail"]
    assert result["stderr_tail"] is not None
    assert result["health_url"] == f"http://127.0.0.1:{deploy.port}/"
    [deployment] = await harness.get("/api/service-deployments", project_id=project["id"])
    assert deployment["status"] == "failed"
    local = (await harness.get("/api/servers", name="local"))[0]
    assert local["status"] == "active", "a failed playbook says nothing about the server"


async def test_a_redelivered_deploy_publishes_the_first_result_without_running_again(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    project = await harness.project("tiny")
    deploy = message(tiny_app_repo(tmp_path), project, secrets_ref="env:MISSING")

    first = await harness.deploy(deploy)
    again = await harness.deploy(deploy)

    assert first["status"] == "error"
    assert (first["request_id"], first["task_id"]) == (deploy.request_id, deploy.task_id)
    assert again == first


@pytest.mark.parametrize(
    ("fields", "project_file", "error"),
    [
        ({"server": "nowhere"}, None, "server 'nowhere' is not registered"),
        ({"secrets_ref": "env:MISSING"}, None, "secret 'env:MISSING' is not set"),
        ({"commit_sha": "0123abcd"}, None, "commit 0123abcd is not in"),
        ({}, "services: {}", ".project.yml: services: Dictionary should have at least 1 item"),
        ({}, "services:\n  web:\n    run: x\n", ".project.yml: services.web.health: Field req"),
    ],
)
async def test_a_deploy_that_cannot_start_is_answered_with_an_error_naming_the_cause(
    harness: Harness,
    local_server: dict[str, Any],
    tmp_path: Path,
    fields: dict[str, Any],
    project_file: str | None,
    error: str,
) -> None:
    repo = tiny_app_repo(tmp_path, project_file) if project_file else tiny_app_repo(tmp_path)
    project = await harness.project("tiny")

    result = await harness.deploy(message(repo, project, **fields))

    assert result["status"] == "error"
    assert error in result["error"]


async def test_a_malformed_message_goes_to_the_dead_letter_stream_and_the_queue_moves_on(
    harness: Harness, local_server: dict[str, Any], tmp_path: Path
) -> None:
    await harness.redis.xadd("ansible:deploy:queue", {"data": '{"project_id": 1}'})
    project = await harness.project("tiny")

    result = await harness.deploy(message(tiny_app_repo(tmp_path), project, secrets_ref="env:X"))

    [letter] = await harness.results("ansible:deploy:queue:dlq")
    assert letter["reason"] == "invalid"
    assert "project_name" in letter["error"]
    assert result["status"] == "error"


@pytest.mark.parametrize(
    ("fields", "named"),
    [({"secrets_ref": "vault:x"}, "secrets_ref"), ({"commit_sha": "zzzz"}, "commit_sha")],
)
async def test_a_deploy_the_contract_refuses_is_dead_lettered_naming_the_field(
    harness: Harness,
    local_server: dict[str, Any],
    tmp_path: Path,
    fields: dict[str, Any],
    named: str,
) -> None:
    project = await harness.project("tiny")
    entry = encode(message(tiny_app_repo(tmp_path), project))
    entry[DATA_FIELD] = json.dumps(json.loads(entry[DATA_FIELD]) | fields)

    await harness.redis.xadd("ansible:deploy:queue", entry)  # type: ignore[arg-type]

    async def dead_letters() -> list[dict[str, Any]]:
        return await harness.results("ansible:deploy:queue:dlq")

    [letter] = await eventually(dead_letters, 60)
    assert letter["reason"] == "invalid"
    assert named in letter["error"]
