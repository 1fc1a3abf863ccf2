"""The scripted agent: a script's turns played per role, its run steps seeing the prompt, and
its answer in Claude Code's result shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from worker_wrapper.scripted_agent import main


def script(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(json.dumps(document))
    return path


def turn(reply: str, *steps: dict[str, Any], verdict: bool = False) -> dict[str, Any]:
    played: dict[str, Any] = {"steps": list(steps), "reply": reply}
    if verdict:
        played["verdict"] = {"status": "success", "summary": reply, "data": {}}
    return played


class Agent:
    """Runs the scripted agent in this process, in a working directory of its own."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.workdir = root / "work"
        self.workdir.mkdir()
        self.state = root / "home"
        self._capsys = capsys

    def play(self, prompt: str, *options: str) -> tuple[int, dict[str, Any]]:
        with pytest.raises(SystemExit) as ended:
            main(["--state-dir", str(self.state), *options, prompt])
        answer = json.loads(self._capsys.readouterr().out)
        assert isinstance(ended.value.code, int)
        return ended.value.code, answer


@pytest.fixture
def agent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Agent:
    played = Agent(tmp_path, capsys)
    monkeypatch.chdir(played.workdir)
    return played


ROLES = {
    "roles": {
        "po": {"turns": [turn("PO here.", {"write": {"path": "po.txt", "content": "po"}})]},
        "developer": {
            "turns": [
                turn("Built.", {"write": {"path": "dev.txt", "content": "dev"}}, verdict=True)
            ]
        },
    }
}


@pytest.mark.parametrize(
    ("role", "reply", "written"), [("po", "PO here.", "po.txt"), ("developer", "Built.", "dev.txt")]
)
def test_a_worker_plays_the_turns_of_its_role(
    agent: Agent, tmp_path: Path, role: str, reply: str, written: str
) -> None:
    path = script(tmp_path / "roles.json", ROLES)

    code, answer = agent.play("hello", "--script", str(path), "--role", role)

    assert code == 0
    assert answer["is_error"] is False
    assert answer["result"].startswith(reply)
    assert [p.name for p in agent.workdir.iterdir()] == [written]


def test_only_the_developer_turn_here_gives_a_verdict(agent: Agent, tmp_path: Path) -> None:
    path = script(tmp_path / "roles.json", ROLES)

    _, po = agent.play("hello", "--script", str(path), "--role", "po")
    _, developer = agent.play("build", "--script", str(path), "--role", "developer")

    assert "<result>" not in po["result"]
    assert '<result>{"status": "success"' in developer["result"]


def test_a_role_the_script_lacks_fails_the_turn_naming_it(agent: Agent, tmp_path: Path) -> None:
    path = script(tmp_path / "po-only.json", {"roles": {"po": ROLES["roles"]["po"]}})

    code, answer = agent.play("build it", "--script", str(path), "--role", "developer")

    assert code == 1
    assert answer["is_error"] is True
    assert "no turns for role 'developer'" in answer["result"]
    assert "(it has: po)" in answer["result"]
    assert list(agent.workdir.iterdir()) == []
    assert answer["session_id"]


def test_a_script_by_role_without_a_role_is_refused(agent: Agent, tmp_path: Path) -> None:
    path = script(tmp_path / "roles.json", ROLES)

    code, answer = agent.play("hi", "--script", str(path))

    assert (code, answer["is_error"]) == (1, True)
    assert "no --role" in answer["result"]


@pytest.mark.parametrize(
    ("content", "error"),
    [
        ("{not json", "cannot be read"),
        ('{"turns": [], "roles": {}}', "both turns and roles"),
        ('{"turns": []}', "has no turns"),
        ('{"roles": {"po": {"turns": []}}}', "has no turns for role 'po'"),
        ("[1]", "not a JSON object"),
    ],
)
def test_a_script_that_cannot_be_played_fails_the_turn(
    agent: Agent, tmp_path: Path, content: str, error: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)

    code, answer = agent.play("hi", "--script", str(path), "--role", "po")

    assert (code, answer["is_error"]) == (1, True)
    assert error in answer["result"]


def test_a_run_step_sees_the_turns_prompt(agent: Agent, tmp_path: Path) -> None:
    path = script(
        tmp_path / "po.json",
        {
            "roles": {
                "po": {
                    "turns": [
                        turn(
                            "Noted.",
                            {"run": 'printf "%s" "$SCRIPTED_AGENT_PROMPT" > wish.txt'},
                        )
                    ]
                }
            }
        },
    )
    wish = 'A small todo-list API: add a todo, list them, mark one "done".\nThanks!'

    code, _ = agent.play(wish, "--script", str(path), "--role", "po")

    assert code == 0
    assert (agent.workdir / "wish.txt").read_text() == wish


def test_a_failing_run_step_fails_the_turn_and_stops_the_steps(
    agent: Agent, tmp_path: Path
) -> None:
    path = script(
        tmp_path / "s.json",
        {
            "turns": [
                turn(
                    "never said",
                    {"run": "echo 'no such project' >&2\nexit 4"},
                    {"write": {"path": "after.txt", "content": "x"}},
                    verdict=True,
                )
            ]
        },
    )

    code, answer = agent.play("go", "--script", str(path), "--role", "developer")

    assert (code, answer["is_error"]) == (1, True)
    assert (
        answer["result"] == "step 1 failed (exit 4): echo 'no such project' >&2 …: no such project"
    )
    assert not (agent.workdir / "after.txt").exists()


def test_the_old_format_is_played_by_every_role_turn_after_turn(
    agent: Agent, tmp_path: Path
) -> None:
    path = script(
        tmp_path / "turns.json",
        {
            "turns": [
                turn("first", {"run": 'echo "$SCRIPTED_AGENT_PROMPT" >> seen.txt'}),
                turn("second, and every turn after"),
            ]
        },
    )

    _, first = agent.play("one", "--script", str(path), "--role", "po")
    session = first["session_id"]
    _, second = agent.play("two", "--script", str(path), "--role", "po", "--resume", session)
    _, third = agent.play("three", "--script", str(path), "--resume", session)
    _, developer = agent.play("four", "--script", str(path), "--role", "developer")

    assert [first["result"], second["result"], third["result"], developer["result"]] == [
        "first",
        "second, and every turn after",
        "second, and every turn after",
        "first",
    ]
    assert (agent.workdir / "seen.txt").read_text() == "one\nfour\n"


def test_without_a_script_it_acknowledges_with_a_success_verdict(agent: Agent) -> None:
    code, answer = agent.play("anything", "--role", "developer")

    assert code == 0
    assert answer["result"].startswith("Scripted agent: acknowledged.")
    assert '"status": "success"' in answer["result"]
