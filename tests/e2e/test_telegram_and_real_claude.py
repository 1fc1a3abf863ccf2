"""The whole cycle through Telegram with the real Claude Code as the PO and the developer: a
person writes to the bot (the fake Telegram Bot API on loopback), the PO worker's `claude` makes
the project and starts engineering through the real `orchestrator` CLI and waits for it, the
developer worker's `claude` writes the code and its test and commits, the tester passes it, the
PO deploys and tells the person the URL, and the URL serves what the developer wrote. Only the
model is a fake (the Anthropic Messages API on loopback, scripted tool calls); every service is a
real process of `codegen up`, with Telegram as its front door.

One script serves both claudes in one order: the PO starts engineering and waits for it in the
same Bash call, so the developer's turns come while the PO is blocked in it, and the PO's next
request only once engineering has ended."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from codegen_stack.services import AGENT_BIN
from shared.testing import fake_anthropic
from shared.testing.fake_anthropic import FakeAnthropic, RecordedRequest, Text, ToolUse
from shared.testing.fake_telegram import FakeTelegram, FakeUser, SentMessage
from shared.testing.waiting import eventually
from stack_testing import StackProcess, codegen_up, tasks_of

WISH = "Could you build me an API that squares numbers? GET /square/12 should say 144."
PROJECT = "square-api"
SPEC = (
    'GET /square/{n} takes an integer n and answers 200 with the JSON {"square": n*n}, '
    'e.g. /square/12 -> {"square": 144} and /square/-3 -> {"square": 9}; a value that is '
    "not an integer is 422. Keep /health and /items as the template has them."
)
BUILDING = "I am building your square API now; this takes a few minutes."
FINAL = 'Ask it for any square: GET /square/{n} answers {"square": n*n}.'
VERDICT = {"status": "success", "summary": "GET /square/{n} with its tests", "data": {}}
WAIT_S = 570  # the orchestrator's wait, inside claude's longest Bash call (10 minutes)
BASH_TIMEOUT_MS = 600_000

# What an agent's shell reads from an orchestrator answer it saved: `$(field FILE a.b)`.
FIELD = (
    "field() { python3 -c 'import json, sys\n"
    "value = json.load(open(sys.argv[1]))\n"
    'for key in ["data", *sys.argv[2].split(".")]: value = value[key]\n'
    'print(value)\' "$@"; }\n'
)

SQUARE_MODULE = '''"""GET /square/{n}: the square of an integer."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["square"])


@router.get("/square/{n}")
def square(n: int) -> dict[str, int]:
    return {"square": n * n}
'''

SQUARE_TEST = """from fastapi.testclient import TestClient


def test_the_square_of_a_number(client: TestClient) -> None:
    answer = client.get("/square/12")

    assert answer.status_code == 200
    assert answer.json() == {"square": 144}


def test_the_square_of_a_negative_number_is_positive(client: TestClient) -> None:
    assert client.get("/square/-3").json() == {"square": 9}


def test_a_value_that_is_not_an_integer_is_422(client: TestClient) -> None:
    assert client.get("/square/abc").status_code == 422
"""

# main.py keeps all it has: the square router goes in next to the template's items router.
INCLUDE_ROUTER = """from pathlib import Path

main = Path("backend/app/main.py")
text = main.read_text()
anchors = {
    "from app.items import router as items_router\\n":
        "from app.square import router as square_router\\n",
    "    app.include_router(items_router)\\n": "    app.include_router(square_router)\\n",
}
for anchor, line in anchors.items():
    if anchor not in text:
        raise SystemExit(f"backend/app/main.py has no line {anchor.strip()!r}")
    text = text.replace(anchor, anchor + line, 1)
main.write_text(text)
"""


def bash(command: str, timeout_ms: int | None = None) -> ToolUse:
    tool_input: dict[str, Any] = {"command": command}
    if timeout_ms is not None:
        tool_input["timeout"] = timeout_ms
    return ToolUse("Bash", tool_input)


def po_create_project() -> ToolUse:
    return bash(
        f"orchestrator project create --name {PROJECT} --modules backend "
        "--description 'An API that squares numbers' > project.json; cat project.json"
    )


def po_engineer_and_wait() -> ToolUse:
    """Spec, engineering start, a note to the person, and the wait: one call, so the developer
    works while the PO is blocked here."""
    return bash(
        f"set -e\n{FIELD}"
        f"cat > spec.md <<'SPEC'\n{SPEC}\nSPEC\n"
        'orchestrator engineering start --project "$(field project.json id)" '
        '--spec "$(cat spec.md)" > engineering.json || { cat engineering.json; exit 1; }\n'
        f'orchestrator respond --message "{BUILDING}"\n'
        f'orchestrator engineering wait "$(field engineering.json task.id)" --timeout {WAIT_S} '
        "> engineered.json || true\n"
        "cat engineered.json",
        BASH_TIMEOUT_MS,
    )


def po_deploy_and_tell() -> ToolUse:
    """Deploy the tested commit, follow it (the CLI has no `deploy wait`), give the URL."""
    return bash(
        f"set -e\n{FIELD}"
        '[ "$(field engineered.json status)" = completed ] || { cat engineered.json; exit 1; }\n'
        'orchestrator deploy start --project "$(field project.json id)" > deploy.json '
        "|| { cat deploy.json; exit 1; }\n"
        'task="$(field deploy.json task.id)"\n'
        "for poll in $(seq 240); do\n"
        '  orchestrator deploy status "$task" > deployed.json\n'
        '  case "$(field deployed.json status)" in completed|failed|cancelled) break ;; esac\n'
        "  sleep 2\n"
        "done\n"
        '[ "$(field deployed.json status)" = completed ] || { cat deployed.json; exit 1; }\n'
        'orchestrator respond --message "Your square API is live at '
        '$(field deployed.json result.deployed_url)"',
        BASH_TIMEOUT_MS,
    )


def developer_writes() -> ToolUse:
    return bash(
        "set -e\n"
        f"cat > backend/app/square.py <<'PY'\n{SQUARE_MODULE}PY\n"
        f"cat > backend/tests/test_square.py <<'PY'\n{SQUARE_TEST}PY\n"
        f"python3 - <<'PY'\n{INCLUDE_ROUTER}PY\n"
        "git status --short"
    )


def developer_commits() -> ToolUse:
    return bash("git add -A && git commit -m 'Add GET /square/{n}' && git log --oneline -1")


def script() -> list[fake_anthropic.Turn]:
    """Both claudes' turns in the one order they are asked for: PO, developer, PO."""
    return [
        po_create_project(),
        po_engineer_and_wait(),
        developer_writes(),
        developer_commits(),
        Text(f"Added GET /square/{{n}} with its tests.\n<result>{json.dumps(VERDICT)}</result>"),
        po_deploy_and_tell(),
        Text(FINAL),
    ]


PO_TURNS, DEVELOPER_TURNS = (0, 1, 5, 6), (2, 3, 4)


def claude_binary() -> Path:
    """The pinned Claude Code the stack puts on its workers' PATH; missing fails, never skips."""
    binary = AGENT_BIN / "claude"
    if not binary.exists():
        raise AssertionError(f"{binary} is missing: run `make agents`")
    return binary


@pytest.mark.slow("the whole cycle with two real claude agents, pytest and a real deploy")
@pytest.mark.timeout(1200)
async def test_a_wish_sent_on_telegram_is_built_by_real_claude_agents_and_served(
    tmp_path: Path,
) -> None:
    claude_binary()
    with FakeAnthropic(script()) as model, FakeTelegram() as telegram:
        person = telegram.user(first_name="Ada")
        env = {
            "CODEGEN_BOT_TOKEN": telegram.token,
            "CODEGEN_BOT_API_URL": telegram.url,
            "CODEGEN_TELEGRAM_ID": str(person.id),
            "CODEGEN_AGENT": "claude",
            "ANTHROPIC_API_KEY": "sk-ant-fake",
            "ANTHROPIC_BASE_URL": model.base_url,
        }
        async with codegen_up(tmp_path / "data", env=env) as stack:
            assert stack.state["front_door"] == "telegram"
            telegram.send_text(person, WISH)
            try:
                live = await _told_the_url(stack, telegram, person, model)
                final = await telegram.wait_for_message(
                    person, lambda m: m.text == FINAL, within=180
                )
                building = await telegram.wait_for_message(
                    person,
                    lambda m: m.text.startswith(f"Building {PROJECT}") and _ended(m),
                    within=60,
                )
                deploying = await telegram.wait_for_message(
                    person,
                    lambda m: m.text.startswith(f"Deploying {PROJECT}") and _ended(m),
                    within=60,
                )
            finally:
                print("telegram:", *(_shown(m) for m in telegram.sent(person)), sep="\n")
            async with stack.api() as api:
                [engineering] = await tasks_of(api, type="engineering")
                [deploy] = await tasks_of(api, type="deploy")
            url = deploy["result"]["deployed_url"].rstrip("/")
            async with httpx.AsyncClient(timeout=10) as client:
                squared = await client.get(f"{url}/square/12")
                negative = await client.get(f"{url}/square/-3")

    # The person got the PO's answers on Telegram, in the order it gave them.
    said = [m.text for m in telegram.sent(person)]
    assert said.index(BUILDING) < said.index(live.text) < said.index(final.text)
    assert url in live.text
    # The tasks' status messages were edited as they went, and ended well.
    assert building.history, building
    assert "Done." in building.text
    assert f"Live at {url}" in deploying.text
    assert any(m.text.startswith(f"{PROJECT} is live: {url}") for m in telegram.sent(person))
    # Engineering, then the deploy of its commit, completed.
    assert engineering["status"] == "completed", engineering
    assert engineering["result"]["attempts"] == 1
    assert deploy["status"] == "completed", deploy
    assert deploy["result"]["commit_sha"] == engineering["result"]["commit_sha"]
    assert engineering["spec"] == SPEC
    # The URL serves what the developer wrote.
    assert (squared.status_code, squared.json()) == (200, {"square": 144})
    assert (negative.status_code, negative.json()) == (200, {"square": 9})
    # The script was played to its end, each turn by the claude it was written for.
    assert (model.remaining_turns, model.exhausted) == (0, False)
    turns = model.main_requests  # one request a turn, in the script's order
    assert [r.turn_index for r in turns] == list(range(len(model.turns)))
    assert all(_is_po(turns[i]) for i in PO_TURNS)
    assert not any(_is_po(turns[i]) for i in DEVELOPER_TURNS)
    assert WISH in turns[0].text()
    assert "GET /square/{n} takes an integer n" in turns[2].text()  # the PO's spec, passed on
    assert "<result>" in turns[2].text()  # with the verdict protocol in its instructions
    assert "Add GET /square/{n}" in turns[4].text()  # git's answer went back to the model


async def _told_the_url(
    stack: StackProcess, telegram: FakeTelegram, person: FakeUser, model: FakeAnthropic
) -> SentMessage:
    """The PO's message with the URL; fails at once when a task ends badly or the script runs
    out (no point waiting on)."""

    async def told() -> SentMessage | None:
        found = [m for m in telegram.sent(person) if m.text.startswith("Your square API is live")]
        if found:
            return found[-1]
        assert not model.exhausted, f"the model's script ran out: {_requests(model)}"
        async with stack.api() as api:
            ended_badly = [t for t in await tasks_of(api) if t["status"] in ("failed", "cancelled")]
        assert not ended_badly, ended_badly
        return None

    return await eventually(told, within=1080, interval=1)


def _ended(message: SentMessage) -> bool:
    return "Done." in message.text or "Live at" in message.text or "Ended (" in message.text


def _is_po(request: RecordedRequest) -> bool:
    return "You are the Product Owner" in request.text()


def _requests(model: FakeAnthropic) -> list[str]:
    return [
        f"turn {r.turn_index}: {'po' if _is_po(r) else 'developer'}" for r in model.main_requests
    ]


def _shown(message: SentMessage) -> str:
    edits = f" (edited {len(message.history)}x)" if message.history else ""
    return f"#{message.message_id}{edits}: {message.text}"
