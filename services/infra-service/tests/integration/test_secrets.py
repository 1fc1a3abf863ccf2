"""Secrets passed by reference reach the deployed app, and nothing else."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from infra_testing import CANARY, CommandLineScanner, Harness, tiny_app_repo
from shared.contracts import AnsibleDeployMessage
from shared.testing.git import git
from shared.testing.servers import free_port
from shared.testing.waiting import eventually

# Real deploys: some twenty Ansible tasks each, every one a module process; a deploy takes 20 s
# on a quiet 2-core machine and over a minute on a busy one. A bound, not a speed requirement.
pytestmark = [
    pytest.mark.timeout(600),
    pytest.mark.slow("real deploys (Ansible module processes), up to three in one test"),
]

CRASHING_PROJECT_FILE = """\
services:
  web:
    run: exit 3
    health: /health
"""


def message(repo: Path, project: dict[str, Any], port: int) -> AnsibleDeployMessage:
    return AnsibleDeployMessage(
        task_id=f"task-{uuid.uuid4().hex}",
        project_id=project["id"],
        project_name=project["name"],
        repo_full_name=str(repo),
        commit_sha=git(repo, "rev-parse", "HEAD"),
        server="local",
        port=port,
        secrets_ref="env:CANARY_SECRETS",
        github_token_ref="env:GIT_TOKEN",
    )


async def everything_recorded(harness: Harness, project: dict[str, Any]) -> str:
    results = await harness.results("deploy:results")
    deployments = await harness.get("/api/service-deployments", project_id=project["id"])
    incidents = await harness.get("/api/incidents")
    return json.dumps([results, deployments, incidents])


def log_files(deploy_root: Path) -> str:
    return "".join(p.read_text(errors="replace") for p in (deploy_root / "logs").glob("*.log"))


async def test_the_scanner_sees_a_command_line_that_holds_the_canary() -> None:
    with CommandLineScanner(CANARY) as scanner:
        # Held alive until the scanner has seen it: no race with how often it scans.
        holder = await asyncio.create_subprocess_exec(
            "sh", "-c", "read _", CANARY, stdin=asyncio.subprocess.PIPE
        )
        try:
            found = await eventually(lambda: asyncio.to_thread(list, scanner.found), 30)
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            await asyncio.wait_for(holder.wait(), 10)
    assert any(CANARY in argv for argv in found)


@pytest.mark.parametrize("outcome", ["healthy", "crashing"])
async def test_the_canary_is_in_no_log_result_or_command_line_while_a_deploy_runs(
    harness: Harness,
    local_server: dict[str, Any],
    tmp_path: Path,
    deploy_root: Path,
    capsys: pytest.CaptureFixture[str],
    outcome: str,
) -> None:
    if outcome == "healthy":
        repo = tiny_app_repo(tmp_path)
    else:
        repo = tiny_app_repo(tmp_path, CRASHING_PROJECT_FILE)
    project = await harness.project("tiny")
    port = free_port()

    with CommandLineScanner(CANARY) as scanner:
        # Seeing a control process before and after the deploy proves it scanned all along.
        await scanner.prove_it_sees()
        result = await harness.deploy(message(repo, project, port))
        if outcome == "healthy":
            served = await asyncio.to_thread(httpx.get, f"http://127.0.0.1:{port}/health")
        await scanner.prove_it_sees()

    logs = capsys.readouterr()
    assert scanner.found == []
    assert CANARY not in logs.out + logs.err + harness.service.logs()
    assert CANARY not in await everything_recorded(harness, project)
    assert CANARY not in log_files(deploy_root)
    if outcome == "healthy":
        assert result["status"] == "success"
        assert served.json()["canary_sha256"] == hashlib.sha256(CANARY.encode()).hexdigest()
    else:
        assert result["status"] == "failed"
        assert result["stdout_tail"], "a failed deploy reports the playbook's output"
