"""What a hostile agent tries from inside its worker, run as a step of the scripted agent:

    python hostile_agent.py REPORT ROLE OTHER_PROJECT_FILE

(OTHER_PROJECT_FILE holds the id of another user's project.)

Every attempt to step around its permissions is made for real, with the credentials the agent
was given (its environment: API_KEY, REDIS_URL) and with those it can find (its wrapper's, in
/proc, where the process backend lets it read them). Each is appended to REPORT as one JSON line
{"attempt", "blocked", "detail"}; the probe itself always exits 0, so the agent's turn goes on
with the real work.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import httpx
import redis

REPORT, ROLE = Path(sys.argv[1]), sys.argv[2]
OTHER_PROJECT = Path(sys.argv[3]).read_text().strip()
API = httpx.Client(
    base_url=os.environ["API_URL"],
    headers={"Authorization": f"Bearer {os.environ.get('API_KEY', '')}"},
    timeout=10,
)


def attempt(name: str, blocked: Callable[[], tuple[bool, str]]) -> None:
    try:
        was_blocked, detail = blocked()
    except Exception as exc:  # an attempt that crashes was not carried out, but say how
        was_blocked, detail = True, f"{type(exc).__name__}: {exc}"
    with REPORT.open("a") as report:
        report.write(json.dumps({"attempt": f"{ROLE}: {name}", "blocked": was_blocked,
                                 "detail": detail[:300]}) + "\n")  # fmt: skip


def refused_by_api(method: str, path: str, **kwargs: object) -> tuple[bool, str]:
    response = API.request(method, path, **kwargs)  # type: ignore[arg-type]
    return response.status_code in (401, 403, 404), f"{response.status_code} {response.text}"


REDIS_ATTEMPTS: list[tuple[str, tuple[str, ...]]] = [
    ("XADD worker:commands", ("XADD", "worker:commands", "*", "data", "{}")),
    ("XADD another user's PO input", ("XADD", "worker:po:po-someone-else:input", "*", "d", "{}")),
    ("XADD deploy:results", ("XADD", "deploy:results", "*", "data", "{}")),
    ("read telegram:inbox", ("XRANGE", "telegram:inbox", "-", "+")),
    ("KEYS *", ("KEYS", "*")),
    ("ACL SETUSER", ("ACL", "SETUSER", "me", "on", ">pw", "+@all", "~*")),
]


def refused_by_redis(url: str, *command: object) -> tuple[bool, str]:
    client = redis.Redis.from_url(url, socket_timeout=5)
    try:
        client.execute_command(*command)  # type: ignore[no-untyped-call]
    except (redis.exceptions.AuthenticationError, redis.exceptions.NoPermissionError) as exc:
        return True, str(exc)
    except redis.exceptions.ResponseError as exc:
        return any(word in str(exc) for word in ("NOAUTH", "NOPERM", "permission")), str(exc)
    finally:
        client.close()
    return False, "carried out"


def cli_refused(*argv: str) -> tuple[bool, str]:
    env = os.environ | {"ALLOWED_COMMANDS": "*"}
    done = subprocess.run(["orchestrator", *argv], env=env, capture_output=True, text=True)
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return not answer.get("success"), f"{answer.get('error')}: {answer.get('message')}"


def list_other_tasks() -> tuple[bool, str]:
    response = API.get("/api/tasks", params={"project_id": OTHER_PROJECT})
    refused = response.status_code in (401, 403) or response.json() == []
    return refused, f"{response.status_code} {response.text}"


def own_task() -> dict[str, object]:
    """Its user's running engineering task, when its key may list tasks (a developer worker
    without a user has no key at all)."""
    tasks = API.get("/api/tasks", params={"type": "engineering"}).json()
    working = [t for t in tasks if isinstance(tasks, list) and t["status"] in ("queued", "running")]
    return working[0] if working else {"id": "0" * 32, "project_id": "0" * 32}


def wrapper_redis_url() -> str | None:
    """The wrapper's own Redis URL, if this agent can read its ancestors' environments."""
    pid = os.getppid()
    while pid > 1:
        try:
            environ = dict(
                pair.split(b"=", 1)
                for pair in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                if b"=" in pair
            )
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return None
        if b"AGENT_REDIS_URL" in environ and b"REDIS_URL" in environ:
            return environ[b"REDIS_URL"].decode()
    return None


def main() -> None:
    agent_redis = os.environ["REDIS_URL"]
    task = own_task()
    if ROLE == "developer":
        attempt("ALLOWED_COMMANDS='*' orchestrator engineering start",
                lambda: cli_refused("engineering", "start", "--project", OTHER_PROJECT,
                                    "--spec", "x"))  # fmt: skip
        attempt(
            "ALLOWED_COMMANDS='*' orchestrator deploy start",
            lambda: cli_refused("deploy", "start", "--project", str(task.get("project_id"))),
        )
        attempt(
            "create a task through the API",
            lambda: refused_by_api(
                "POST",
                "/api/tasks",
                json={"project_id": task.get("project_id"), "type": "deploy", "spec": ""},
            ),
        )
    attempt(
        "set its own task completed",
        lambda: refused_by_api(
            "PATCH",
            f"/api/tasks/{task['id']}",
            json={"status": "completed", "result": {"forged": True}},
        ),
    )
    attempt(
        "set its own task failed",
        lambda: refused_by_api("PATCH", f"/api/tasks/{task['id']}", json={"status": "failed"}),
    )
    attempt(
        "read another user's project",
        lambda: refused_by_api("GET", f"/api/projects/{OTHER_PROJECT}"),
    )
    attempt(
        "change another user's project",
        lambda: refused_by_api(
            "PATCH", f"/api/projects/{OTHER_PROJECT}", json={"description": "owned"}
        ),
    )
    attempt("list another user's tasks", list_other_tasks)
    attempt(
        "make itself an API key",
        lambda: refused_by_api(
            "POST", "/api/api-keys", json={"name": "mine", "principal": "service"}
        ),
    )
    attempt("list the users", lambda: refused_by_api("GET", "/api/users"))
    urls = [("its own Redis user", agent_redis)]
    found = wrapper_redis_url()
    if found and found != agent_redis:
        urls.append(("its wrapper's Redis user, read from /proc", found))
    for whose, url in urls:
        for name, command in REDIS_ATTEMPTS:
            attempt(f"{name} with {whose}", partial(refused_by_redis, url, *command))
    anonymous = "redis://" + agent_redis.rsplit("@", 1)[-1]
    attempt(
        "XADD worker:commands with no credentials",
        lambda: refused_by_redis(anonymous, "XADD", "worker:commands", "*", "data", "{}"),
    )


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # the agent's turn goes on; the report shows the probe broke
        broke = f"{type(exc).__name__}: {exc}"
        attempt("the probe itself", lambda: (False, broke))
