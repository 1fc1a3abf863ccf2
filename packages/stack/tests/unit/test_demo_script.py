"""The demo's default script (codegen_stack/demo/todo_api.json), played for real.

The developer role: the template rendered as the scaffolder renders it, the developer turn played
by the wrapper's own develop path (the scripted agent, `--role developer`, in a clone; the commit
pushed), then the commit tested by the wrapper's own test mode (the `.project.yml` test commands:
pip installs the project's dependencies from PyPI), then the app started with its declared `run`
command and asked over HTTP.

The PO role: every `orchestrator …` line parses with the CLI's own parser, and the turn is played
against a fake `orchestrator` on PATH that answers as the CLI does: the happy path with a taken
name, a failed engineering task, a command that fails.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import codegen_stack.demo
import httpx
import pytest
from orchestrator_cli.app import COMMANDS, app
from orchestrator_cli.permissions import expand, is_allowed
from scaffolder.adapters.copier_renderer import CopierRenderer
from scaffolder.config import DEFAULT_TEMPLATE
from scaffolder.domain.request import copier_answers
from shared.contracts import (
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    OutcomeStatus,
    WorkMode,
    parse_project_file,
)
from shared.testing.git import file_at, git
from shared.testing.servers import free_port
from shared.testing.waiting import until
from typer.main import get_command
from worker_wrapper.adapters.git_cli import GitCli
from worker_wrapper.adapters.process_agent import ProcessAgent
from worker_wrapper.adapters.process_group import AgentProcess
from worker_wrapper.adapters.runners.scripted import ScriptedRunner
from worker_wrapper.adapters.shell import ProcessShell
from worker_wrapper.handlers.developer import run_task, run_tests

SCRIPT = Path(codegen_stack.demo.__file__).parent / "todo_api.json"
WISH = "A small todo-list API: add a todo, list them, mark one done."
DOCUMENT: dict[str, Any] = json.loads(SCRIPT.read_text())
PO_TURNS: list[dict[str, Any]] = DOCUMENT["roles"]["po"]["turns"]
RUN_STEPS = [step["run"] for step in PO_TURNS[0]["steps"] if "run" in step]


# --- the developer role -------------------------------------------------------------------------


def scaffolded(root: Path) -> Path:
    """A bare repository holding the project's first commit, as the scaffolder pushes it."""
    work = root / "scaffold"
    answers = copier_answers("todo-api", "A small todo-list API", ["backend"])
    asyncio.run(CopierRenderer(DEFAULT_TEMPLATE).render(work, answers))
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-qm", "Scaffold todo-api")
    bare = root / "todo-api.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare


async def developed_and_tested(root: Path, bare: Path) -> tuple[DeveloperWorkerOutput, Path]:
    """A developer worker's task (the scripted agent plays the script's developer role), then a
    tester worker's run of the commit's declared tests: the tester's output and its checkout."""
    process = AgentProcess(kill_grace_s=5, stop=asyncio.Event())
    author = GitCli(author_name="codegen-worker", author_email="worker@codegen.local")
    task = DeveloperWorkerInput(
        task_id="t-1",
        project_id="p-1",
        prompt=f"Project todo-api: A small todo-list API\n\nTask:\n{WISH}",
        repo_url=str(bare),
        timeout=300,
    )
    agent = ProcessAgent(
        ScriptedRunner(SCRIPT, role="developer"), process, home=root / "dev/home", env=os.environ
    )
    developed = await run_task(
        task,
        worker_id="w-dev",
        repo=root / "dev/repo",
        instructions="You are a developer.",
        extra_env={},
        agent=agent,
        git=author,
    )
    assert developed.status is OutcomeStatus.SUCCESS, developed.error
    assert developed.commit_sha
    test = DeveloperWorkerInput(
        task_id="t-1",
        project_id="p-1",
        prompt=f"Run the tests of commit {developed.commit_sha}.",
        repo_url=str(bare),
        timeout=300,
        mode=WorkMode.TEST,
        commit_sha=developed.commit_sha,
    )
    shell = ProcessShell(process, env=os.environ, home=root / "tester/home")
    checkout = root / "tester/repo"
    tested = await run_tests(test, worker_id="w-test", repo=checkout, git=author, shell=shell)
    return tested, checkout


@contextmanager
def served(checkout: Path) -> Iterator[str]:
    """The project's entry service started with its declared `run` command (in the checkout the
    tests ran in: its environment is built), on loopback; its base URL."""
    project = parse_project_file((checkout / ".project.yml").read_text())
    service = project.services[project.entry_point]
    port = free_port()
    env = {"PATH": os.environ["PATH"], "HOME": str(checkout.parent / "home")}
    env |= {"HOST": "127.0.0.1", "PORT": str(port)}
    log = (checkout.parent / "app.log").open("wb")
    process = subprocess.Popen(
        ["/bin/sh", "-c", service.run],
        cwd=checkout / service.directory,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        until(lambda: _answers(f"{url}{service.health}") or process.poll() is not None, within=30)
        assert process.poll() is None, (checkout.parent / "app.log").read_text()
        yield url
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_the_developer_builds_a_todo_api_whose_declared_tests_pass_and_that_serves(
    tmp_path: Path,
) -> None:
    bare = scaffolded(tmp_path)

    tested, checkout = asyncio.run(developed_and_tested(tmp_path, bare))

    assert tested.status is OutcomeStatus.SUCCESS, f"{tested.error}\n{tested.output_tail}"
    assert tested.output_tail is not None
    # The template's tests and the todo list's, all run and passed.
    declared = sum(
        test.read_text().count("\ndef test_") for test in (checkout / "backend/tests").glob("*.py")
    )
    assert file_at(bare, "main", "backend/tests/test_todos.py")
    assert f"{declared} passed" in tested.output_tail
    assert "app.include_router(todos_router)" in file_at(bare, "main", "backend/app/main.py")

    with served(checkout) as url, httpx.Client(base_url=url, timeout=5) as client:
        assert client.get("/health").json() == {"status": "ok"}
        assert client.get("/todos").json() == []
        added = client.post("/todos", json={"title": "buy milk"})
        assert (added.status_code, added.json()) == (
            201,
            {"id": 1, "title": "buy milk", "done": False},
        )
        client.post("/todos", json={"title": "walk the dog"})
        done = client.post("/todos/1/done")
        assert (done.status_code, done.json()["done"]) == (200, True)
        assert [todo["done"] for todo in client.get("/todos").json()] == [True, False]
        assert client.post("/todos/9/done").status_code == 404
        assert client.post("/todos", json={"title": ""}).status_code == 422
        assert client.get("/items").json() == []  # the template's example is kept


# --- the PO role --------------------------------------------------------------------------------

FAKE_CLI = """#!PYTHON
# A fake `orchestrator`: logs its argv, prints the next scripted answer for its command.
import json, sys
from pathlib import Path

root = Path(ROOT)
words = sys.argv[1:]
command = "respond" if words[:1] == ["respond"] else " ".join(words[:2])
with (root / "calls.jsonl").open("a") as log:
    log.write(json.dumps(words) + "\\n")
answers = json.loads((root / "answers.json").read_text())
queue = answers.get(command) or [
    {"success": False, "error": "InvalidArguments", "message": "unexpected: " + command}
]
answer = queue.pop(0) if len(queue) > 1 else queue[0]
(root / "answers.json").write_text(json.dumps(answers))
print(json.dumps(answer))
sys.exit(0 if answer["success"] else 5)
"""
URL = "http://127.0.0.1:18001"


def ok(data: Any) -> dict[str, Any]:
    return {"success": True, "data": data, "message": "ok"}


def failed(error: str, message: str) -> dict[str, Any]:
    return {"success": False, "error": error, "message": message, "details": {}}


def task(task_id: str, status: str, **fields: Any) -> dict[str, Any]:
    return {"id": task_id, "status": status, "result": None, "error": None, **fields}


HAPPY = {
    "project create": [
        failed("Conflict", "a project named todo-api exists"),
        ok({"id": "p-1", "name": "todo-api-x"}),
    ],
    "engineering start": [ok({"task": task("t-eng", "queued")})],
    "engineering wait": [ok(task("t-eng", "completed"))],
    "deploy start": [ok({"task": task("t-dep", "queued")})],
    "deploy status": [
        ok(task("t-dep", "running")),
        ok(task("t-dep", "completed", result={"deployed_url": URL})),
    ],
    "respond": [ok({"request_id": "r:respond:1"})],
}


class Po:
    """The scripted agent as a PO worker runs it, with the fake CLI first on PATH."""

    def __init__(self, root: Path, answers: dict[str, list[dict[str, Any]]]) -> None:
        self.root, self.workdir = root, root / "po"
        self.workdir.mkdir()
        (root / "bin").mkdir()
        fake = root / "bin/orchestrator"
        fake.write_text(FAKE_CLI.replace("PYTHON", sys.executable).replace("ROOT", repr(str(root))))
        fake.chmod(0o755)
        (root / "answers.json").write_text(json.dumps(answers))

    def play(self, prompt: str, *options: str) -> tuple[int, dict[str, Any]]:
        argv = [sys.executable, "-m", "worker_wrapper.scripted_agent", "--role", "po"]
        argv += ["--state-dir", str(self.root / "home"), "--script", str(SCRIPT), *options]
        env = os.environ | {"PATH": f"{self.root / 'bin'}:{os.environ['PATH']}"}
        done = subprocess.run(
            [*argv, prompt], cwd=self.workdir, env=env, capture_output=True, text=True, timeout=60
        )
        return done.returncode, json.loads(done.stdout)

    def calls(self) -> list[list[str]]:
        log = self.root / "calls.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []

    def said(self) -> list[str]:
        return [call[2] for call in self.calls() if call[:2] == ["respond", "--message"]]


def commands(calls: list[list[str]]) -> list[str]:
    return ["respond" if call[0] == "respond" else " ".join(call[:2]) for call in calls]


def test_the_po_takes_the_wish_to_a_live_url(tmp_path: Path) -> None:
    po = Po(tmp_path, HAPPY)
    wish = f'{WISH}\nIt\'s for "my" team; costs $0 & runs `anywhere`.'

    code, answer = po.play(wish)

    assert (code, answer["is_error"]) == (0, False), answer["result"]
    assert commands(po.calls()) == [
        "project create",
        "project create",
        "engineering start",
        "respond",
        "engineering wait",
        "deploy start",
        "deploy status",
        "deploy status",
        "respond",
    ]
    taken, retried = po.calls()[0], po.calls()[1]
    assert taken[taken.index("--name") + 1] == "todo-api"
    assert re.fullmatch(r"todo-api-[0-9a-f]{6}", retried[retried.index("--name") + 1])
    assert taken[taken.index("--modules") + 1] == "backend"
    start = po.calls()[2]
    assert start[start.index("--project") + 1] == "p-1"
    assert start[start.index("--spec") + 1] == wish  # the person's words, exactly
    assert po.calls()[4][2:] == ["t-eng", "--timeout", "600"]
    assert po.calls()[5][2:] == ["--project", "p-1"]
    assert po.calls()[6][2:] == ["t-dep"]
    assert po.said()[-1] == f"Your app is live at {URL}"
    assert answer["result"] == PO_TURNS[0]["reply"]
    assert "<result>" not in answer["result"]

    code, later = po.play("How is it going?", "--resume", answer["session_id"])

    assert (code, later["result"]) == (0, PO_TURNS[1]["reply"])
    assert len(po.calls()) == 9  # a later turn runs nothing


def test_a_failed_engineering_task_is_told_plainly_and_fails_the_turn(tmp_path: Path) -> None:
    answers = HAPPY | {
        "project create": [ok({"id": "p-1", "name": "todo-api"})],
        "engineering wait": [
            ok(task("t-eng", "failed", error="tests failed: backend:\n`pytest` exited 1"))
        ],
    }
    po = Po(tmp_path, answers)

    code, answer = po.play(WISH)

    assert (code, answer["is_error"]) == (1, True)
    assert "engineering task t-eng did not complete" in answer["result"]
    assert (
        po.said()[-1]
        == "Sorry, building your app did not work: tests failed: backend: `pytest` exited 1"
    )
    assert not {"deploy start", "deploy status"} & set(commands(po.calls()))


def test_a_failed_engineering_wait_is_told_too(tmp_path: Path) -> None:
    answers = HAPPY | {
        "project create": [ok({"id": "p-1", "name": "todo-api"})],
        "engineering wait": [failed("Timeout", "task t-eng is still running after 600s")],
    }
    po = Po(tmp_path, answers)

    code, _ = po.play(WISH)

    assert code == 1
    assert po.said()[-1].endswith("did not work: task t-eng is still running after 600s")


def test_a_command_that_fails_stops_the_turn_loudly(tmp_path: Path) -> None:
    answers = HAPPY | {
        "project create": [ok({"id": "p-1", "name": "todo-api"})],
        "engineering start": [failed("ApiUnavailable", "the API cannot be reached")],
    }
    po = Po(tmp_path, answers)

    code, answer = po.play(WISH)

    assert (code, answer["is_error"]) == (1, True)
    assert answer["result"].startswith("step 3 failed (exit 1): # Start engineering")
    assert "ApiUnavailable: the API cannot be reached" in answer["result"]
    assert commands(po.calls()) == ["project create", "engineering start"]


def test_a_failed_deploy_is_told_plainly_and_fails_the_turn(tmp_path: Path) -> None:
    answers = HAPPY | {
        "project create": [ok({"id": "p-1", "name": "todo-api"})],
        "deploy status": [ok(task("t-dep", "failed", error="the health check never answered"))],
    }
    po = Po(tmp_path, answers)

    code, _ = po.play(WISH)

    assert code == 1
    assert po.said()[-1] == (
        "Sorry, putting your app online did not work: the health check never answered"
    )


# The PO's lines must be ones the real CLI takes: each parsed by its own parser (the approach of
# packages/orchestrator-cli/tests/unit/test_po_instructions.py, for a shell script's lines).
PUNCTUATION = set("();<>|&")


class NotACommand(ValueError):
    pass


INVOCATION = re.compile(r"\borchestrator\b")


def invocations(script: str) -> list[list[str]]:
    """The words of every `orchestrator …` invocation in `script`, up to its redirection, pipe,
    `;`, `&&` or `)`; each must be on one line."""
    found = []
    for line in script.splitlines():
        for start in INVOCATION.finditer(line):
            lexer = shlex.shlex(line[start.start() :], posix=True, punctuation_chars=True)
            lexer.whitespace_split = True
            words = []
            for word in lexer:
                if set(word) <= PUNCTUATION:
                    break
                words.append(word)
            found.append(words)
    return found


def command_path(words: list[str]) -> str:
    """`group.command`, the arguments checked by the CLI's own parser (nothing runs)."""
    command: Any = get_command(app)
    path: list[str] = []
    rest = words[1:]
    while hasattr(command, "commands"):
        if not rest or rest[0] not in command.commands:
            raise NotACommand(f"no such command after {path}: {words}")
        path.append(rest.pop(0))
        command = command.commands[path[-1]]
    command.make_context(" ".join(["orchestrator", *path]), rest)
    return ".".join(path)


PO_INVOCATIONS = [words for step in RUN_STEPS for words in invocations(step)]


@pytest.mark.parametrize("words", PO_INVOCATIONS, ids=" ".join)
def test_every_orchestrator_line_of_the_po_parses_with_the_clis_parser(words: list[str]) -> None:
    assert command_path(words) in COMMANDS
    assert is_allowed(command_path(words), expand("PRODUCT_OWNER"))


def test_the_po_goes_the_whole_way_with_the_persons_words_as_the_spec() -> None:
    used = {command_path(words) for words in PO_INVOCATIONS}
    assert used == {
        "project.create",
        "engineering.start",
        "engineering.wait",
        "deploy.start",
        "deploy.status",
        "respond",
    }
    start = next(w for w in PO_INVOCATIONS if w[1:3] == ["engineering", "start"])
    assert start[start.index("--spec") + 1] == "$SCRIPTED_AGENT_PROMPT"
    assert sum(len(INVOCATION.findall(step)) for step in RUN_STEPS) == len(PO_INVOCATIONS)


def test_a_command_the_cli_does_not_have_is_caught() -> None:
    with pytest.raises(NotACommand):
        command_path(invocations("orchestrator deploy wait t-1 > d.json")[0])


def test_a_line_the_cli_would_refuse_is_caught() -> None:
    with pytest.raises(Exception) as caught:  # the parser's own error, vendored by typer
        command_path(invocations('x=$(orchestrator deploy start --project "$p" --spec s)')[0])
    assert hasattr(caught.value, "format_message")
