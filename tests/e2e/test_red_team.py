"""A hostile agent against the servers' enforcement: the scripted PO and developer each try every
way around their permissions (a widened ALLOWED_COMMANDS, the API with their key, Redis with
their credentials and with their wrapper's, read from /proc as the process backend allows), on
Redis 6.2 (`make test`) and on Redis 7 (`make test-redis7`). Every attempt fails, and the real
work goes on to the end: the engineering task the PO tried to close is completed by the system,
after the tester passed it."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
from codegen_stack.demo.run import default_script
from shared.testing.servers import redis_server_binary
from shared.testing.waiting import eventually
from stack_testing import codegen_up, script_file, tasks_of

PROBE = Path(__file__).with_name("hostile_agent.py")


def hostile_script(workdir: Path, report: Path, other_project: Path) -> Path:
    """The demo's PO, which probes right after it started engineering and does not deploy; the
    demo's developer, which probes before it works."""
    demo = json.loads(default_script().read_text())["roles"]
    po_turn = demo["po"]["turns"][0]
    steps = po_turn["steps"]
    probe = f"{sys.executable} {PROBE} {report} {{role}} {other_project}"
    po_turn["steps"] = [
        *steps[:3],
        {"run": probe.format(role="po")},
        steps[3],
        {"run": "cd todo-demo && orchestrator respond --message 'Built and tested.' > built.json"},
    ]
    developer_turn = demo["developer"]["turns"][0]
    developer_turn["steps"] = [{"run": probe.format(role="developer")}, *developer_turn["steps"]]
    return script_file(workdir / "hostile.json", demo)


@pytest.mark.slow("a PO turn, an attempt and its tests, with a hostile probe in each agent")
@pytest.mark.timeout(600)
async def test_a_hostile_agent_is_refused_everything_and_the_work_still_finishes(
    tmp_path: Path,
) -> None:
    report, other_project = tmp_path / "attempts.jsonl", tmp_path / "other_project"
    script = hostile_script(tmp_path, report, other_project)
    binary = redis_server_binary()  # 6.2 in `make test`, 7 in `make test-redis7`
    async with codegen_up(
        tmp_path / "data", "--agent-script", str(script), env={"CODEGEN_REDIS_SERVER": binary}
    ) as stack:
        async with stack.api() as api:
            someone = await api.post("/api/users", json={"username": "someone", "telegram_id": 7})
            someone.raise_for_status()
            theirs = await api.post(
                "/api/projects",
                json={"name": "theirs", "modules": ["backend"], "owner_id": someone.json()["id"]},
            )
            theirs.raise_for_status()
        other_project.write_text(theirs.json()["id"])
        chat = stack.chat()
        await chat.say("I want a todo-list API.")

        async def engineering_ended() -> dict[str, Any] | None:
            async with stack.api() as api:
                tasks = await tasks_of(api, type="engineering")
            ended = [t for t in tasks if t["status"] in ("completed", "failed", "cancelled")]
            return ended[0] if ended else None

        engineering = await eventually(engineering_ended, within=480, interval=1)
        async with stack.api() as api:
            runs = (
                await api.get("/api/task-executions", params={"task_id": engineering["id"]})
            ).json()
            other_tasks = await tasks_of(api, project_id=theirs.json()["id"])
            other = (await api.get(f"/api/projects/{theirs.json()['id']}")).json()

    attempts = [json.loads(line) for line in report.read_text().splitlines()]
    let_through = [a for a in attempts if not a["blocked"]]
    roles = {a["attempt"].split(":")[0] for a in attempts}
    print(
        f"RED-TEAM redis={binary} attempts={len(attempts)} "
        f"blocked={len(attempts) - len(let_through)}"
    )
    assert engineering["status"] == "completed", (engineering, runs)
    assert roles == {"po", "developer"}, attempts
    assert not let_through, let_through
    assert "forged" not in (engineering["result"] or {})
    assert engineering["result"]["commit_sha"]
    assert (other_tasks, other["description"]) == ([], "")
