"""A worker's secrets and its forge token, through a real worker-manager process (process backend)
and the fake GitHub: the agent's secrets resolved into its worker only; a developer worker's
GIT_TOKEN an installation token limited to its repository, revoked once it has ended; a worker
whose repository is not on GitHub gets none; a reference naming nothing refuses the create."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest_asyncio
from manager_testing import (
    ManagerProcess,
    entries,
    kill_workers,
    manager_env,
    wait_for_answer,
    worker_ids,
)
from redis.asyncio import Redis
from shared.contracts import (
    AgentType,
    CreateWorkerCommand,
    DeveloperWorkerInput,
    WorkerConfig,
    WorkerResponse,
    WorkerType,
)
from shared.streams import RedisStreamPublisher
from shared.testing.fake_github import FakeGitHub
from shared.testing.git import bare_repo, branch_head
from shared.testing.waiting import eventually

MODEL_KEY = f"sk-model-{uuid.uuid4().hex}"


@dataclass
class World:
    redis: Redis
    github: FakeGitHub
    tmp: Path
    log: Path

    async def create(
        self, secrets: dict[str, str], repository: str, script: list[dict[str, object]]
    ) -> WorkerResponse:
        path = self.tmp / f"script-{uuid.uuid4().hex}.json"
        turn = {"steps": script, "reply": "ok", "verdict": {"status": "success", "summary": "s"}}
        path.write_text(json.dumps({"turns": [turn]}))
        command = CreateWorkerCommand(
            config=WorkerConfig(
                name="w",
                worker_type=WorkerType.DEVELOPER,
                agent_type=AgentType.SCRIPTED,
                env_vars={"SCRIPTED_AGENT_SCRIPT": str(path)},
                secrets=secrets,
            ),
            context={"task_id": "t-1", "repository": repository},
        )
        await RedisStreamPublisher(self.redis).publish("worker:commands", command)
        return await wait_for_answer(
            self.redis, "worker:responses:developer", command.request_id, 30
        )

    async def run(self, worker_id: str, repo_url: str) -> dict[str, object]:
        await RedisStreamPublisher(self.redis).publish(
            f"worker:developer:{worker_id}:input",
            DeveloperWorkerInput(
                task_id="t-1", project_id="p-1", prompt="go", repo_url=repo_url, timeout=60
            ),
        )

        async def output() -> dict[str, object] | None:
            mine = list(await entries(self.redis, "worker:developer:output"))
            return next((o for o in mine if o["worker_id"] == worker_id), None)

        return await eventually(output, 60)


@pytest_asyncio.fixture
async def world(redis_url: str, redis_client: Redis, tmp_path: Path) -> AsyncIterator[World]:
    with FakeGitHub(tmp_path / "github", owner="acme") as github:
        github.create_repository("shop", files={"README.md": "# shop\n"})
        github.create_repository("bank", files={"README.md": "# bank\n"})
        secrets_dir = tmp_path / "secrets"
        secrets_dir.mkdir(mode=0o700)
        (secrets_dir / "github-app.pem").write_text(github.private_key_pem)
        env = manager_env(
            redis_url,
            tmp_path / "workers",
            max_workers=2,
            monitor_interval_s=0.2,
            stop_grace_s=3,
            secrets_dir=secrets_dir,
            forge="github",
            github_api_url=github.api_url,
            github_app_id=str(github.app_id),
            github_private_key_ref="file:github-app.pem",
            github_owner="acme",
        )
        env["CODEGEN_SECRET_MODEL_KEY"] = MODEL_KEY
        log = tmp_path / "manager.log"
        manager = ManagerProcess(env, log)
        try:
            yield World(redis_client, github, tmp_path, log)
        finally:
            manager.stop()
            kill_workers(await worker_ids(redis_client))


async def test_a_developer_worker_pushes_with_a_token_for_its_repository_only_revoked_after_it(
    world: World,
) -> None:
    dumped = world.tmp / "agent-env"
    shop = world.github.clone_url("acme/shop")

    response = await world.create(
        {"MODEL_API_KEY": "env:MODEL_KEY"},
        shop,
        [{"run": f"env > {dumped} && echo x > x && git add x && git commit -qm x"}],
    )
    assert response.success, response.error
    assert response.worker_id is not None
    output = await world.run(response.worker_id, shop)

    assert output["status"] == "success", output["error"]
    assert output["commit_sha"] == branch_head(world.github.repositories["acme/shop"], "main")
    [token] = world.github.tokens
    assert (token.repositories, token.permissions) == (("shop",), (("contents", "write"),))
    agent_env = dumped.read_text()
    assert f"MODEL_API_KEY={MODEL_KEY}" in agent_env.splitlines()
    assert token.token not in agent_env
    assert "GIT_TOKEN" not in agent_env
    async with httpx.AsyncClient(base_url=world.github.api_url) as api:

        async def revoked() -> bool:
            seen = await api.get(
                "/repos/acme/shop", headers={"Authorization": f"token {token.token}"}
            )
            return seen.status_code == 401

        await eventually(revoked, 30)
    log = world.log.read_text()
    assert token.token not in log
    assert MODEL_KEY not in log


async def test_a_worker_whose_repository_is_not_on_github_gets_no_token(world: World) -> None:
    repo = bare_repo(world.tmp)

    response = await world.create(
        {}, str(repo), [{"run": "echo x > x && git add x && git commit -qm x"}]
    )
    assert response.success, response.error
    assert response.worker_id is not None
    output = await world.run(response.worker_id, str(repo))

    assert output["status"] == "success", output["error"]
    assert output["commit_sha"] == branch_head(repo, "main")
    assert world.github.tokens == []


async def test_a_secret_that_names_nothing_refuses_the_create_saying_which(world: World) -> None:
    response = await world.create(
        {"MODEL_API_KEY": "env:MODEL_KEY", "SEARCH_KEY": "env:NOWHERE"},
        world.github.clone_url("acme/shop"),
        [],
    )

    assert response.success is False
    assert (
        response.error == "secrets.SEARCH_KEY cannot be resolved: secret 'env:NOWHERE' is not set"
    )
    assert world.github.tokens == [], "nothing was made for it"
    assert MODEL_KEY not in world.log.read_text()
