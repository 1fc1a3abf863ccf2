"""`scripted-agent`: follows a declared script, offline and deterministically.

Used for demos and tests; it never pretends to understand the prompt. A script is JSON, either
one list of turns that every worker plays:

    {"turns": [
        {"steps": [{"write": {"path": "app.py", "content": "..."}},
                   {"run": "git add -A && git commit -m 'add app'"}],
         "reply": "Done.",
         "verdict": {"status": "success", "summary": "added app.py", "data": {}}}
    ]}

or a list of turns per role, the worker's type (`--role`: `po` or `developer`; the wrapper passes
its WORKER_TYPE; a developer worker in test mode runs no agent at all):

    {"roles": {"po": {"turns": [...]}, "developer": {"turns": [...]}}}

A worker whose role the script does not have plays nothing: its turn fails (`is_error`, exit 1)
naming the role. So does a script that cannot be read, has no turns, or has both `turns` and
`roles`.

Each invocation plays the next turn of its session (`--resume` continues one); when the turns run
out it replays the last. A turn's `steps` run in order in the working directory:

- `{"write": {"path": P, "content": C}}` writes the file P (relative to the working directory,
  its directories made), replacing it whole;
- `{"run": COMMAND}` runs COMMAND with `/bin/sh -c`, in the agent's environment plus
  `SCRIPTED_AGENT_PROMPT`, the turn's prompt; its output is not kept, and a command that exits
  non-zero fails the turn (its stderr's tail is the error), the steps after it not run;
- `{"sleep": SECONDS}` waits.

The turn's answer is its `reply`, followed by its `verdict` (if any) as the `<result>` block a
developer worker reads (docs/WORKER.md). It prints one JSON object shaped like Claude Code's
result (`is_error` true when a step or the script failed). Without a script it answers with a
fixed acknowledgement and a success verdict.

The prompt (`SCRIPTED_AGENT_PROMPT`): for a PO worker, the person's message exactly as they wrote
it (`POWorkerInput.prompt`, not wrapped: the role's instructions are in AGENTS.md, the request in
REQUEST_ID / CORRELATION_ID / USER_ID), so a PO script may pass the wish on with
`--spec "$SCRIPTED_AGENT_PROMPT"`. For a developer worker, the task's prompt as langgraph writes
it (`Project NAME: DESCRIPTION` and `Task:` with the spec), then the wrapper's lines: the attempt
number and the previous failure after a first attempt, and a reminder of the verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

DEFAULT_TURN: dict[str, Any] = {
    "steps": [],
    "reply": "Scripted agent: acknowledged.",
    "verdict": {"status": "success", "summary": "nothing to do", "data": {}},
}
# The variable a `run` step reads the turn's prompt from.
PROMPT_VARIABLE = "SCRIPTED_AGENT_PROMPT"


class ScriptError(Exception):
    """The script cannot be played for this role."""


def load_turns(script: Path | None, role: str | None) -> list[dict[str, Any]]:
    """The turns `role` plays; raises ScriptError."""
    if script is None:
        return [DEFAULT_TURN]
    try:
        document = json.loads(script.read_text())
    except (OSError, ValueError) as exc:
        raise ScriptError(f"the script {script} cannot be read: {exc}") from None
    if not isinstance(document, dict):
        raise ScriptError(f"the script {script} is not a JSON object")
    if "turns" in document and "roles" in document:
        raise ScriptError(f"the script {script} has both turns and roles: give one of them")
    whose = ""
    if "roles" in document:
        roles = document["roles"]
        if not isinstance(roles, dict):
            raise ScriptError(f"the script {script}: roles must be an object")
        if role is None:
            raise ScriptError(
                f"the script {script} has turns per role ({_names(roles)}) but no --role was given"
            )
        if not isinstance(roles.get(role), dict):
            raise ScriptError(
                f"the script {script} has no turns for role {role!r} (it has: {_names(roles)})"
            )
        document, whose = roles[role], f" for role {role!r}"
    turns = document.get("turns")
    if not isinstance(turns, list) or not turns:
        raise ScriptError(f"the script {script} has no turns{whose}")
    return turns


def play(turn: dict[str, Any], workdir: Path, prompt: str) -> tuple[bool, str]:
    env = {**os.environ, PROMPT_VARIABLE: prompt}
    for number, step in enumerate(turn.get("steps", []), start=1):
        if "write" in step:
            target = workdir / step["write"]["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step["write"]["content"])
        elif "run" in step:
            done = subprocess.run(  # noqa: S602 - running the script's shell steps is its purpose
                step["run"],
                shell=True,
                cwd=workdir,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                return False, (
                    f"step {number} failed (exit {done.returncode}): {_first_line(step['run'])}: "
                    f"{done.stderr.strip()[-500:]}"
                )
        elif "sleep" in step:
            time.sleep(float(step["sleep"]))
    return True, ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripted-agent")
    parser.add_argument("prompt")
    parser.add_argument("--script", type=Path)
    parser.add_argument("--role", help="The worker's type: po or developer.")
    parser.add_argument("--resume")
    parser.add_argument("--state-dir", type=Path, default=Path.home())
    args = parser.parse_args(argv)

    session_id = args.resume or uuid.uuid4().hex
    try:
        turns = load_turns(args.script, args.role)
    except ScriptError as exc:
        _answer(args.prompt, str(exc), session_id=session_id, played=0, ok=False)
        return
    state = args.state_dir / ".scripted-agent" / f"{session_id}.json"
    played = json.loads(state.read_text())["played"] if state.exists() else 0
    turn = turns[min(played, len(turns) - 1)]

    ok, error = play(turn, Path.cwd(), args.prompt)
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"played": played + 1, "prompts": played + 1}))
    text = turn.get("reply", "") if ok else error
    if ok and "verdict" in turn:
        text += f"\n<result>{json.dumps(turn['verdict'])}</result>"
    _answer(args.prompt, text, session_id=session_id, played=played + 1, ok=ok)


def _answer(prompt: str, text: str, *, session_id: str, played: int, ok: bool) -> None:
    """Print the turn's result in Claude Code's shape, and exit 0 only when it went well."""
    print(
        json.dumps(
            {
                "type": "result",
                "is_error": not ok,
                "result": text,
                "session_id": session_id,
                "num_turns": played,
                "usage": {
                    "input_tokens": len(prompt.split()),
                    "output_tokens": len(text.split()),
                },
                "total_cost_usd": 0.0,
            }
        )
    )
    sys.exit(0 if ok else 1)


def _names(roles: dict[str, Any]) -> str:
    return ", ".join(sorted(roles)) or "none"


def _first_line(command: str) -> str:
    """A long command named briefly in an error."""
    lines = command.strip().splitlines() or [""]
    first = lines[0]
    if len(first) > 120:
        first = first[:119] + "…"
    return first + (" …" if len(lines) > 1 else "")


if __name__ == "__main__":
    main()
