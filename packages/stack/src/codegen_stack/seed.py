"""What a stack needs in its database before its services start, made once and reused: the
schema (migrations, every start), the local user with the API key the services use, and the
`local` server deploys go to."""

from __future__ import annotations

import json
import subprocess
from typing import Any

import httpx

from codegen_stack.layout import Layout
from codegen_stack.services import BIN, base_env

LOCAL_USER = "local"
SERVICE_KEY = "service_key"


class SeedFailed(RuntimeError):
    pass


def migrate_and_key(layout: Layout, database_url: str, telegram_id: int) -> str:
    """Migrate; on the first start make the local user (an admin) and the service key, kept in
    secrets.json; afterwards reuse them. The key is read from the command's output, never
    passed in argv."""
    secrets = layout.read_secrets()
    env = base_env(layout) | {"DATABASE_URL": database_url, "LOG_FORMAT": "json"}
    if SERVICE_KEY in secrets:
        _run([str(BIN / "api-migrate")], env)
        return secrets[SERVICE_KEY]
    argv = [
        str(BIN / "api-create-admin"),
        "--admin-username", LOCAL_USER, "--admin-telegram-id", str(telegram_id),
    ]  # fmt: skip
    answer = _json(_run(argv, env, allowed=(0, 1)))
    if not answer.get("success") and answer.get("error") == "service_key_exists":
        # secrets.json was lost but the database kept its key: make another.
        answer = _json(_run([*argv, "--new-key", "--no-migrate"], env))
    if not answer.get("success"):
        raise SeedFailed(f"could not make the service key: {answer.get('message')}")
    key = str(answer["service_key"])
    user_id = str(answer["admin_user_id"])
    layout.write_secrets(secrets | {SERVICE_KEY: key, "local_user_id": user_id})
    return key


async def ensure_local_server(api_url: str, api_key: str) -> dict[str, Any]:
    """The `local` deploy target, registered once."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=api_url, headers=headers, timeout=10) as client:
        found = (await client.get("/api/servers", params={"name": "local"})).json()
        if found:
            return dict(found[0])
        body = {"name": "local", "address": "127.0.0.1", "is_local": True, "status": "active"}
        response = await client.post("/api/servers", json=body)
        if response.status_code != 201:
            raise SeedFailed(f"could not register the local server: {response.text}")
        return dict(response.json())


def _run(argv: list[str], env: dict[str, str], allowed: tuple[int, ...] = (0,)) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    if done.returncode not in allowed:
        raise SeedFailed(f"{argv[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _json(out: str) -> dict[str, Any]:
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        raise SeedFailed(f"no JSON answer in: {out[-500:]}")
    answer = json.loads(lines[-1])
    if not isinstance(answer, dict):
        raise SeedFailed("the answer is not an object")
    return answer
