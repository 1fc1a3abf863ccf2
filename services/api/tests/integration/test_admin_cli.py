"""`api-create-admin --service-key-env NAME`: the real console script registers the service key the
operator generated (docker compose's `migrate` one-shot), against a real database."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from api.admin_cli import register_service_key
from api.auth.keys import display_prefix, generate_key, hash_key
from api.config import ApiSettings
from api_testing import ClientFactory, FirstAdmin, ok
from shared.permissions import PROJECTS_READ
from shared.testing.processes import settings_env
from shared.testing.waiting import eventually

CREATE_ADMIN = str(Path(sys.executable).parent / "api-create-admin")
VARIABLE = "SERVICE_API_KEY"


@dataclass
class Run:
    code: int
    result: dict[str, Any]
    output: str  # stdout and stderr together, to look for leaked secrets


def _env(database_url: str, home: Path, variables: dict[str, str]) -> dict[str, str]:
    """Exactly the API's settings for this database and the given variables: nothing of ours."""
    settings = settings_env(ApiSettings(database_url=database_url))
    return {"PATH": os.environ["PATH"], "HOME": str(home)} | settings | variables


def _finish(completed: subprocess.CompletedProcess[str]) -> Run:
    lines = completed.stdout.splitlines()
    assert len(lines) == 1, completed.stdout + completed.stderr
    return Run(completed.returncode, json.loads(lines[0]), completed.stdout + completed.stderr)


def create_admin(
    database_url: str, home: Path, *args: str, variables: dict[str, str] | None = None
) -> Run:
    completed = subprocess.run(
        [CREATE_ADMIN, *args],
        env=_env(database_url, home, variables or {}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return _finish(completed)


def register(database_url: str, home: Path, key: str, *args: str) -> Run:
    return create_admin(
        database_url, home, "--service-key-env", VARIABLE, *args, variables={VARIABLE: key}
    )


async def _rows(database_url: str, query: str) -> list[dict[str, Any]]:
    connection = await asyncpg.connect(database_url)
    try:
        return [dict(row) for row in await connection.fetch(query)]
    finally:
        await connection.close()


async def test_a_key_from_the_environment_becomes_a_service_key_the_api_accepts(
    api_database_url: str, tmp_path: Path, client_for: ClientFactory
) -> None:
    key = generate_key()

    run = register(api_database_url, tmp_path, key, "--admin-telegram-id", "42")

    assert run.code == 0, run.output
    assert set(run.result) == {"success", "created", "admin_user_id", "key_id"}
    assert run.result["success"] is True
    assert run.result["created"] is True
    assert key not in run.output
    service = client_for(key)
    me = await ok(service.get("/api/auth/me"))
    assert me == {
        "principal": "service",
        "user_id": None,
        "key_id": run.result["key_id"],
        "scopes": None,
    }
    # Only a service may create keys.
    await ok(
        service.post("/api/api-keys", json={"name": "worker", "principal": "service"}),
        201,
    )
    stored = await ok(service.get(f"/api/api-keys/{run.result['key_id']}"))
    assert stored["principal"] == "service"
    assert stored["name"] == "operator"
    assert stored["prefix"] == key[:10]
    assert stored["expires_at"] is None
    assert stored["revoked_at"] is None
    admin = await ok(service.get(f"/api/users/{run.result['admin_user_id']}"))
    assert (admin["username"], admin["is_admin"], admin["telegram_id"]) == ("admin", True, 42)
    digests = await _rows(api_database_url, "SELECT key_hash FROM api_keys WHERE name = 'operator'")
    assert digests == [{"key_hash": hash_key(key)}]


async def test_a_rerun_changes_nothing_and_another_key_is_added_beside_the_first(
    api_database_url: str, tmp_path: Path, client_for: ClientFactory
) -> None:
    first_key, second_key = generate_key(), generate_key()
    first = register(api_database_url, tmp_path, first_key)
    keys_before = await _rows(api_database_url, "SELECT * FROM api_keys ORDER BY id")
    users_before = await _rows(api_database_url, "SELECT * FROM users ORDER BY id")

    again = register(api_database_url, tmp_path, first_key, "--admin-telegram-id", "7")

    assert again.code == 0, again.output
    assert again.result == first.result | {"created": False}
    assert await _rows(api_database_url, "SELECT * FROM api_keys ORDER BY id") == keys_before
    assert await _rows(api_database_url, "SELECT * FROM users ORDER BY id") == users_before

    second = register(api_database_url, tmp_path, second_key)

    assert second.code == 0, second.output
    assert second.result["created"] is True
    assert second.result["admin_user_id"] == first.result["admin_user_id"]
    assert second.result["key_id"] != first.result["key_id"]
    for key in (first_key, second_key):
        assert (await client_for(key).get("/api/projects")).status_code == 200


async def test_the_generated_key_path_still_refuses_a_second_service_key(
    api_database_url: str, tmp_path: Path
) -> None:
    register(api_database_url, tmp_path, generate_key())

    run = create_admin(api_database_url, tmp_path)

    assert run.code == 1
    assert run.result["error"] == "service_key_exists"
    assert "service_key" not in run.result


async def test_an_empty_database_is_migrated_first_and_a_rerun_after_it_succeeds(
    database_url: str, tmp_path: Path
) -> None:
    key = generate_key()

    first = register(database_url, tmp_path, key)
    rerun = register(database_url, tmp_path, key)

    assert (first.code, first.result["created"]) == (0, True), first.output
    assert rerun.code == 0, rerun.output
    assert rerun.result == first.result | {"created": False}


def test_two_runs_racing_on_an_empty_database_both_succeed_and_store_one_key(
    database_url: str, tmp_path: Path
) -> None:
    key = generate_key()
    env = _env(database_url, tmp_path, {VARIABLE: key})
    racers = [
        subprocess.Popen(
            [CREATE_ADMIN, "--service-key-env", VARIABLE],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    runs = []
    for racer in racers:
        stdout, stderr = racer.communicate(timeout=120)
        runs.append(
            _finish(subprocess.CompletedProcess(racer.args, racer.returncode, stdout, stderr))
        )

    assert [run.code for run in runs] == [0, 0], [run.output for run in runs]
    assert sorted(run.result["created"] for run in runs) == [False, True]
    assert runs[0].result["key_id"] == runs[1].result["key_id"]
    assert runs[0].result["admin_user_id"] == runs[1].result["admin_user_id"]
    stored = asyncio.run(_rows(database_url, "SELECT key_hash FROM api_keys"))
    assert stored == [{"key_hash": hash_key(key)}]
    assert len(asyncio.run(_rows(database_url, "SELECT id FROM users"))) == 1


async def test_a_run_that_loses_the_insert_to_another_answers_created_false(
    api_database_url: str,
) -> None:
    """The other run's insert is not yet committed when this one looks: this one's insert waits
    on the unique key_hash, fails when the other commits, and the retry finds the stored key."""
    key = generate_key()
    other = await asyncpg.connect(api_database_url)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute(
            "INSERT INTO api_keys (id, name, key_hash, prefix, principal)"
            " VALUES ($1, 'operator', $2, $3, 'service')",
            "b" * 32,
            hash_key(key),
            display_prefix(key),
        )
        racing = asyncio.create_task(
            register_service_key(
                api_database_url,
                key=key,
                variable=VARIABLE,
                admin_username="admin",
                admin_telegram_id=None,
            )
        )

        async def waiting_on_the_other() -> bool:
            rows = await _rows(api_database_url, "SELECT 1 FROM pg_locks WHERE NOT granted")
            return bool(rows) or racing.done()

        await eventually(waiting_on_the_other, within=30)
        await transaction.commit()
        result = await asyncio.wait_for(racing, 30)
    finally:
        await other.close()

    assert result["success"] is True
    assert result["created"] is False
    assert result["key_id"] == "b" * 32
    assert await _rows(api_database_url, "SELECT key_hash FROM api_keys") == [
        {"key_hash": hash_key(key)}
    ]
    users = await _rows(api_database_url, "SELECT id FROM users")
    assert users == [{"id": result["admin_user_id"]}]


URLSAFE_SECRET = secrets.token_urlsafe(32)


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "is not set"),
        ("", "is empty"),
        (URLSAFE_SECRET, "does not start with cgo_"),
        ("CGO_" + URLSAFE_SECRET, "does not start with cgo_"),
        ("cgo_" + URLSAFE_SECRET[:31], "at least 32"),
        ("cgo_" + URLSAFE_SECRET + ".c2VydmVycy1yZWFk", "scope"),
        (generate_key((PROJECTS_READ,)), "scope"),
        ("cgo_" + URLSAFE_SECRET[:30] + "+/=" + URLSAFE_SECRET[30:], "characters"),
        ("cgo_" + URLSAFE_SECRET + "\n", "characters"),
        ("cgo_ " + URLSAFE_SECRET, "characters"),
        ("cgo_" + URLSAFE_SECRET[:20] + "é" + URLSAFE_SECRET[20:], "characters"),
    ],
    ids=[
        "unset",
        "empty",
        "no-prefix",
        "upper-case-prefix",
        "short",
        "claims",
        "scoped-key",
        "base64-characters",
        "trailing-newline",
        "space",
        "non-ascii",
    ],
)
async def test_a_malformed_key_is_refused_naming_the_variable_never_the_value(
    api_database_url: str, tmp_path: Path, value: str | None, problem: str
) -> None:
    variables = {} if value is None else {VARIABLE: value}

    run = create_admin(
        api_database_url, tmp_path, "--service-key-env", VARIABLE, variables=variables
    )

    assert run.code == 1
    assert set(run.result) == {"success", "error", "message"}
    assert run.result["success"] is False
    assert run.result["error"] == "invalid_service_key"
    assert VARIABLE in run.result["message"]
    assert problem in run.result["message"]
    if value:
        assert value not in run.output
        assert value.strip() not in run.output
        assert URLSAFE_SECRET[:12] not in run.output
    # Refused before anything was touched.
    assert await _rows(api_database_url, "SELECT id FROM api_keys") == []
    assert await _rows(api_database_url, "SELECT id FROM users") == []


async def test_a_revoked_key_is_not_brought_back(
    api_database_url: str,
    tmp_path: Path,
    service: httpx.AsyncClient,
    client_for: ClientFactory,
    first_admin: FirstAdmin,
) -> None:
    key = generate_key()
    registered = register(api_database_url, tmp_path, key)
    await ok(service.delete(f"/api/api-keys/{registered.result['key_id']}"))

    run = register(api_database_url, tmp_path, key)

    assert run.code == 1
    assert run.result["success"] is False
    assert run.result["error"] == "service_key_revoked"
    assert VARIABLE in run.result["message"]
    assert run.result["key_id"] == registered.result["key_id"]
    assert key not in run.output
    assert (await client_for(key).get("/api/projects")).status_code == 401


async def test_an_expired_key_is_not_brought_back(api_database_url: str, tmp_path: Path) -> None:
    key = generate_key()
    registered = register(api_database_url, tmp_path, key)
    connection = await asyncpg.connect(api_database_url)
    try:
        await connection.execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1",
            registered.result["key_id"],
        )
    finally:
        await connection.close()

    run = register(api_database_url, tmp_path, key)

    assert run.code == 1
    assert run.result["error"] == "service_key_expired"
    assert key not in run.output


async def test_a_user_key_is_not_taken_for_a_service_key(
    api_database_url: str, tmp_path: Path, service: httpx.AsyncClient, first_admin: FirstAdmin
) -> None:
    user_key = await ok(
        service.post(
            "/api/api-keys",
            json={"name": "u", "principal": "user", "user_id": first_admin.admin_user_id},
        ),
        201,
    )

    run = register(api_database_url, tmp_path, user_key["key"])

    assert run.code == 1
    assert run.result["error"] == "invalid_service_key"
    assert VARIABLE in run.result["message"]
    assert user_key["key"] not in run.output
    stored = await _rows(api_database_url, "SELECT principal FROM api_keys ORDER BY created_at")
    assert [row["principal"] for row in stored] == ["service", "user"]


def test_the_key_option_and_new_key_do_not_go_together(
    api_database_url: str, tmp_path: Path
) -> None:
    completed = subprocess.run(
        [CREATE_ADMIN, "--service-key-env", VARIABLE, "--new-key"],
        env=_env(api_database_url, tmp_path, {VARIABLE: generate_key()}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 2
    assert "not allowed with" in completed.stderr
    assert asyncio.run(_rows(api_database_url, "SELECT id FROM api_keys")) == []
