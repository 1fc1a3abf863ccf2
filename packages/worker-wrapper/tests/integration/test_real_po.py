"""The Product Owner as the real Claude Code CLI, driven by the real wrapper, with its real
instructions: it creates a project and starts engineering through the real `orchestrator` CLI,
against the real API and Redis. Only the model is a fake (the Anthropic Messages API on loopback),
scripted to call the CLI through the Bash tool as the instructions teach."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from api.testing import LiveApi
from redis.asyncio import Redis
from shared.contracts import EngineeringMessage, POWorkerInput, POWorkerOutput
from shared.streams.wire import encode
from shared.testing import fake_anthropic
from shared.testing.fake_anthropic import FakeAnthropic, Text, ToolUse
from wrapper_testing import CLAUDE_TEST_ENV, Wrapper, agent_binary, wait_for, wrapper_env

StartWrapper = Callable[[dict[str, str]], Wrapper]

INSTRUCTIONS = (
    Path(__file__).resolve().parents[4]
    / "services/telegram-bot/src/telegram_bot/instructions/product_owner.md"
)
# The project's id from the JSON the first call printed, as an agent's shell would get it.
PROJECT_ID = '$(python3 -c \'import json; print(json.load(open("project.json"))["data"]["id"])\')'


class User:
    def __init__(self, user_id: str, key: str) -> None:
        self.id, self.key = user_id, key


@pytest.fixture
def user(live_api: LiveApi) -> User:
    """A user and the user-scoped key worker-manager would give their PO worker."""
    with httpx.Client(base_url=live_api.url, headers=_service(live_api)) as api:
        created = api.post("/api/users", json={"username": "po-user"}).json()
        key = api.post(
            "/api/api-keys",
            json={"name": "worker po-1", "principal": "user", "user_id": created["id"]},
        ).json()["key"]
    return User(created["id"], key)


async def test_the_po_creates_the_project_and_starts_engineering_through_the_cli(
    start_wrapper: StartWrapper,
    redis_url: str,
    redis_client: Redis,
    live_api: LiveApi,
    user: User,
    tmp_path: Path,
) -> None:
    turns: list[fake_anthropic.Turn] = [
        ToolUse(
            "Bash",
            {
                "command": "orchestrator project create --name todo-api --modules backend "
                "--description 'A small API that keeps a todo list' | tee project.json"
            },
        ),
        ToolUse(
            "Bash",
            {
                "command": f'orchestrator engineering start --project "{PROJECT_ID}" '
                "--spec 'CRUD for todos: GET/POST /todos, GET/PUT/DELETE /todos/{id}'"
            },
        ),
        Text("Your todo API is being built; I will tell you when it is online."),
    ]
    with FakeAnthropic(turns) as fake:
        wrapper = start_wrapper(
            wrapper_env(
                redis_url,
                tmp_path / "ws",
                WORKER_ID="po-1",
                WORKER_TYPE="po",
                AGENT_TIMEOUT_S="120",
                INSTRUCTIONS=INSTRUCTIONS.read_text(),
                API_URL=live_api.url,
                API_KEY=user.key,
                USER_ID=user.id,
                ALLOWED_COMMANDS="PRODUCT_OWNER",
                CLAUDE_BIN=agent_binary("claude"),
                ANTHROPIC_BASE_URL=fake.base_url,
                **CLAUDE_TEST_ENV,
            )
        )
        wish = POWorkerInput(user_id=user.id, prompt="I want a small API that keeps a todo list")
        await redis_client.xadd("worker:po:po-1:input", encode(wish))  # type: ignore[arg-type]
        [raw] = await wait_for(
            redis_client, "worker:po:po-1:output", 1, within=120, wrapper=wrapper
        )
        wrapper.stop()

    answer = POWorkerOutput.model_validate(raw)
    assert (answer.text, answer.is_final, answer.request_id) == (
        "Your todo API is being built; I will tell you when it is online.",
        True,
        wish.request_id,
    )
    async with httpx.AsyncClient(base_url=live_api.url, headers=_service(live_api)) as api:
        projects = (await api.get("/api/projects")).json()
        [project] = [p for p in projects if p["name"] == "todo-api"]
        [task] = (await api.get("/api/tasks", params={"project_id": project["id"]})).json()
    assert (project["owner_id"], project["modules"]) == (user.id, ["backend"])
    assert (task["type"], task["status"]) == ("engineering", "queued")
    assert task["spec"].startswith("CRUD for todos")
    [queued] = await _stream(redis_client, "engineering:queue")
    message = EngineeringMessage.model_validate(queued)
    assert (message.task_id, message.project_id, message.user_id) == (
        task["id"],
        project["id"],
        user.id,
    )
    assert message.correlation_id == wish.correlation_id  # the user's message's trace
    # The CLI's answers went back to the model, and no secret went anywhere near it.
    assert project["id"] in fake.main_requests[1].text()
    assert task["id"] in fake.main_requests[2].text()
    assert "You are the Product Owner" in fake.main_requests[0].text()
    assert not any(user.key in request.text() for request in fake.requests)
    assert user.key not in wrapper.log.read_text()


def _service(live_api: LiveApi) -> dict[str, str]:
    return {"Authorization": f"Bearer {live_api.service_key}"}


async def _stream(redis: Redis, stream: str) -> list[dict[str, Any]]:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(stream))
    return [json.loads(fields["data"]) for _, fields in entries]
