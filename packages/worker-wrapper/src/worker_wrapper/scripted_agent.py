"""`scripted-agent`: follows a declared script, offline and deterministically.

Used for demos and tests; it never pretends to understand the prompt. A script is JSON:

    {"turns": [
        {"steps": [{"write": {"path": "app.py", "content": "..."}},
                   {"run": "git add -A && git commit -m 'add app'"}],
         "reply": "Done.",
         "verdict": {"status": "success", "summary": "added app.py", "data": {}}}
    ]}

Each invocation plays the next turn of its session (`--resume` continues one); when the turns run
out it replays the last. A step may `write` a file, `run` a shell command (a failing command
fails the turn), or `sleep` seconds. It prints one JSON object shaped like Claude Code's result.
Without a script it answers with a fixed acknowledgement and a success verdict.
"""

from __future__ import annotations

import argparse
import json
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


def play(turn: dict[str, Any], workdir: Path) -> tuple[bool, str]:
    for step in turn.get("steps", []):
        if "write" in step:
            target = workdir / step["write"]["path"]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(step["write"]["content"])
        elif "run" in step:
            done = subprocess.run(  # noqa: S602 - running the script's shell steps is its purpose
                step["run"],
                shell=True,
                cwd=workdir,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                return False, f"step failed: {step['run']}: {done.stderr.strip()[-500:]}"
        elif "sleep" in step:
            time.sleep(float(step["sleep"]))
    return True, ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="scripted-agent")
    parser.add_argument("prompt")
    parser.add_argument("--script", type=Path)
    parser.add_argument("--resume")
    parser.add_argument("--state-dir", type=Path, default=Path.home())
    args = parser.parse_args(argv)

    turns = json.loads(args.script.read_text())["turns"] if args.script else [DEFAULT_TURN]
    session_id = args.resume or uuid.uuid4().hex
    state = args.state_dir / ".scripted-agent" / f"{session_id}.json"
    played = json.loads(state.read_text())["played"] if state.exists() else 0
    turn = turns[min(played, len(turns) - 1)]

    ok, error = play(turn, Path.cwd())
    state.parent.mkdir(parents=True, exist_ok=True)
    state.write_text(json.dumps({"played": played + 1, "prompts": played + 1}))
    text = turn.get("reply", "") if ok else error
    if ok and "verdict" in turn:
        text += f"\n<result>{json.dumps(turn['verdict'])}</result>"
    print(
        json.dumps(
            {
                "type": "result",
                "is_error": not ok,
                "result": text,
                "session_id": session_id,
                "num_turns": played + 1,
                "usage": {
                    "input_tokens": len(args.prompt.split()),
                    "output_tokens": len(text.split()),
                },
                "total_cost_usd": 0.0,
            }
        )
    )
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
