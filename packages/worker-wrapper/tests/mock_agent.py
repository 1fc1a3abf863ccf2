#!/usr/bin/env python3
"""A stand-in for a coding agent's CLI, printing Claude Code's JSON result shape.

Its behaviour comes from MOCK_AGENT_BEHAVIOUR:
  ECHO        answer with the prompt and a success verdict; with MOCK_COMMIT=1 commit a file first
  SLEEP       start a child process, then sleep (for timeouts and stops); pids to MOCK_PID_FILE
  WAIT        write its pid to MOCK_PID_FILE (it is running), wait for MOCK_GO_FILE to appear
              (at most 60 s, then exit 4), then go on as ECHO
  CRASH       write to stderr and exit 3
  GARBAGE     print something that is not JSON
  NOVERDICT   answer without a <result> block, and with one when resumed
  NEVERVERDICT  never give a <result> block
  BADVERDICT  give a <result> block that is not JSON
It keeps a turn count per session under $HOME so a resumed session can be told apart.
"""

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path


def main() -> None:
    args = sys.argv[1:]
    prompt = args[args.index("-p") + 1]
    session = args[args.index("--resume") + 1] if "--resume" in args else uuid.uuid4().hex
    turns_file = Path(os.environ["HOME"]) / f"mock-session-{session}"
    turn = int(turns_file.read_text()) + 1 if turns_file.exists() else 1
    turns_file.write_text(str(turn))
    behaviour = os.environ.get("MOCK_AGENT_BEHAVIOUR", "ECHO")
    verdict = '<result>{"status": "success", "summary": "did it", "data": {}}</result>'

    if behaviour == "CRASH":
        sys.stderr.write("mock agent: something exploded\n")
        sys.exit(3)
    if behaviour == "GARBAGE":
        print("this is not json {{{")
        return
    if behaviour == "SLEEP":
        child = subprocess.Popen(["sleep", "1000"])
        Path(os.environ["MOCK_PID_FILE"]).write_text(f"{os.getpid()} {child.pid}")
        time.sleep(1000)
    if behaviour == "WAIT":
        Path(os.environ["MOCK_PID_FILE"]).write_text(str(os.getpid()))
        go, deadline = Path(os.environ["MOCK_GO_FILE"]), time.monotonic() + 60
        while not go.exists():
            if time.monotonic() > deadline:
                sys.stderr.write(f"mock agent: {go} never appeared\n")
                sys.exit(4)
            time.sleep(0.02)
    if os.environ.get("MOCK_COMMIT") == "1":
        Path(f"work-{session[:8]}-{turn}.txt").write_text(prompt)
        subprocess.run(["git", "add", "-A"], check=True)
        subprocess.run(["git", "commit", "-qm", "mock agent work"], check=True)
    text = f"turn {turn}: {prompt}"
    if behaviour in ("ECHO", "WAIT") or (behaviour == "NOVERDICT" and turn > 1):
        text += f"\n{verdict}"
    elif behaviour == "BADVERDICT":
        text += "\n<result>{status: success}</result>"
    print(
        json.dumps(
            {
                "type": "result",
                "is_error": False,
                "result": text,
                "session_id": session,
                "usage": {"input_tokens": 10, "output_tokens": 5},
                "total_cost_usd": 0.01,
            }
        )
    )


if __name__ == "__main__":
    main()
