"""The whole cycle as a person gets it: a wish typed in the local chat goes to the PO (the
scripted agent, through a real PO worker), which makes the project and its spec and starts
engineering; the scaffolder makes the repository, the developer's first attempt commits a test
its code does not pass (the tester really runs it and fails it), the second makes it pass; the
deploy serves the commit on the `local` target, the PO tells the person the URL, and the URL
serves what the script built. Every service a real process of `codegen up`."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
import pytest
from codegen_stack.demo.run import default_script
from shared.contracts import LocalChatOp, LocalChatOutput
from shared.testing.waiting import eventually
from stack_testing import StackProcess, codegen_up, script_file, tasks_of

GREET_TEST = """from fastapi.testclient import TestClient

from app.main import app


def test_greet_says_hello_to_the_name() -> None:
    answer = TestClient(app).get("/greet/Ada")
    assert answer.status_code == 200
    assert answer.json() == {"greeting": "Hello, Ada!"}
"""

GREET_ROUTE = """

@app.get("/greet/{name}")
def greet(name: str) -> dict[str, str]:
    return {"greeting": f"Hello, {name}!"}
"""


def greeter_script(workdir: Path) -> Path:
    """The PO of the demo, asked for a greeter; a developer whose first attempt commits only the
    test, and whose next ones add the route."""
    demo = json.loads(default_script().read_text())["roles"]["po"]
    po = json.loads(
        json.dumps(demo)
        .replace("todo-api", "greeter")
        .replace("A small todo-list API", "A greeter")
    )
    attempts, route = workdir / "attempts", workdir / "greet_route.py"
    route.write_text(GREET_ROUTE)
    count = (
        f"n=$(( $(cat {attempts} 2>/dev/null || echo 0) + 1 )); echo $n > {attempts}; "
        f'if [ "$n" -ge 2 ]; then cat {route} >> backend/app/main.py; fi'
    )
    developer = {
        "turns": [
            {
                "steps": [
                    {"write": {"path": "backend/tests/test_greet.py", "content": GREET_TEST}},
                    {"run": count},
                    {"run": "git add -A && git commit -qm 'Greet by name'"},
                ],
                "reply": "Added /greet.",
                "verdict": {"status": "success", "summary": "added /greet", "data": {}},
            }
        ]
    }
    return script_file(workdir / "greeter.json", {"po": po, "developer": developer})


@pytest.mark.slow("the whole cycle: a PO turn, two attempts with pytest at each, a real deploy")
@pytest.mark.timeout(900)
async def test_a_wish_in_the_chat_becomes_a_live_url_after_a_failing_attempt(
    tmp_path: Path,
) -> None:
    script = greeter_script(tmp_path)
    async with codegen_up(tmp_path / "data", "--agent-script", str(script)) as stack:
        chat = stack.chat()
        after = await chat.last_id()
        await chat.say("I want an API that greets people by name.")

        said = await _told_the_url(stack, after)
        async with stack.api() as api:
            [engineering] = await tasks_of(api, type="engineering")
            [deploy] = await tasks_of(api, type="deploy")
            runs = {
                run["request_id"]: run
                for run in (
                    await api.get("/api/task-executions", params={"task_id": engineering["id"]})
                ).json()
            }
            project = (await api.get(f"/api/projects/{engineering['project_id']}")).json()

        assert engineering["status"] == "completed", engineering
        assert engineering["result"]["attempts"] == 2
        first_test = runs[f"{engineering['id']}.a1.test"]
        assert first_test["status"] == "failed"
        assert "test_greet_says_hello_to_the_name" in first_test["result"]["output_tail"]
        assert runs[f"{engineering['id']}.a2.test"]["status"] == "success"
        assert deploy["status"] == "completed", deploy
        assert deploy["result"]["commit_sha"] == engineering["result"]["commit_sha"]
        assert (project["name"], project["status"]) == ("greeter", "active")
        url = deploy["result"]["deployed_url"].rstrip("/")
        assert url in said.text
        async with httpx.AsyncClient(timeout=10) as client:
            greeting = await client.get(f"{url}/greet/Ada")
        assert (greeting.status_code, greeting.json()) == (200, {"greeting": "Hello, Ada!"})


async def _told_the_url(stack: StackProcess, after: str) -> LocalChatOutput:
    """The chat's messages until the PO says where the app lives."""
    seen: list[LocalChatOutput] = []

    async def read() -> None:
        async for output in stack.chat().replies(after):
            seen.append(output)
            if output.op is LocalChatOp.SEND and "live at http" in output.text:
                return

    async def told() -> LocalChatOutput | None:
        found = [o for o in seen if o.op is LocalChatOp.SEND and "live at http" in o.text]
        if found:
            return found[-1]
        async with stack.api() as api:
            ended_badly = [t for t in await tasks_of(api) if t["status"] in ("failed", "cancelled")]
        assert not ended_badly, ended_badly  # no point waiting on
        return None

    reader = asyncio.create_task(read())
    try:
        return await eventually(told, within=780, interval=1)
    finally:
        reader.cancel()
        print("chat:", *(f"{o.op.value}: {o.text}" for o in seen), sep="\n")
