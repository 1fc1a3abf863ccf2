"""Every route but /health needs a key; a user's key sees only that user's data."""

from __future__ import annotations

import asyncpg
import httpx
import pytest
from api.admin_cli import create_admin_and_key
from api.config import ApiSettings
from api_testing import ClientFactory, FirstAdmin, NewUser, make_project, make_server, ok


async def test_health_needs_no_key(client_for: ClientFactory) -> None:
    body = await ok(client_for(None).get("/health"))
    assert body["status"] == "ok"
    assert body["database"] == "ok"


@pytest.mark.parametrize(
    "header", [None, "Bearer", "Bearer cgo_unknown", "Basic dXNlcjpwYXNz", "cgo_no_scheme"]
)
async def test_a_request_without_a_known_key_is_answered_401(
    client_for: ClientFactory, first_admin: FirstAdmin, header: str | None
) -> None:
    client = client_for(None)
    headers = {"Authorization": header} if header else {}
    response = await client.get("/api/projects", headers=headers)
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


async def test_a_revoked_key_stops_working_at_once(
    service: httpx.AsyncClient, new_user: NewUser
) -> None:
    user = await new_user()
    await ok(user.client.get("/api/projects"))

    revoked = await ok(service.delete(f"/api/api-keys/{user.key_id}"))

    assert revoked["revoked_at"] is not None
    assert (await user.client.get("/api/projects")).status_code == 401
    again = await ok(service.delete(f"/api/api-keys/{user.key_id}"))
    assert again["revoked_at"] == revoked["revoked_at"]


async def test_a_key_is_refused_with_401_from_the_moment_it_expires(
    service: httpx.AsyncClient,
    client_for: ClientFactory,
    first_admin: FirstAdmin,
    api_database_url: str,
) -> None:
    key = await ok(
        service.post(
            "/api/api-keys",
            json={
                "name": "short",
                "principal": "user",
                "user_id": first_admin.admin_user_id,
                "ttl_seconds": 3600,
            },
        ),
        201,
    )
    client = client_for(key["key"])
    await ok(client.get("/api/projects"))
    # Its hour passes: the database's clock says it expired a moment ago.
    connection = await asyncpg.connect(api_database_url)
    try:
        await connection.execute(
            "UPDATE api_keys SET expires_at = now() - interval '1 millisecond' WHERE id = $1",
            key["id"],
        )
    finally:
        await connection.close()
    response = await client.get("/api/projects")
    assert response.status_code == 401
    assert response.json()["message"] == "expired API key"


async def test_keys_are_stored_as_digests_and_shown_only_when_created(
    service: httpx.AsyncClient, first_admin: FirstAdmin
) -> None:
    listed = await ok(service.get("/api/api-keys"))
    assert all("key" not in k for k in listed)
    assert listed[0]["prefix"] == first_admin.service_key[:10]
    assert first_admin.service_key not in str(listed)


async def test_a_user_key_sees_only_its_own_projects_and_others_are_not_found(
    new_user: NewUser,
) -> None:
    alice, bob = await new_user(), await new_user()
    alices = await make_project(alice.client)
    await make_project(bob.client)

    listed = await ok(alice.client.get("/api/projects"))
    assert [p["id"] for p in listed] == [alices["id"]]
    missing = await bob.client.get(f"/api/projects/{alices['id']}")
    assert missing.status_code == 404
    assert missing.json()["error"] == "not_found"
    patched = await bob.client.patch(f"/api/projects/{alices['id']}", json={"description": "x"})
    assert patched.status_code == 404


async def test_a_user_key_cannot_reach_another_users_tasks_or_executions(
    new_user: NewUser, service: httpx.AsyncClient
) -> None:
    alice, bob = await new_user(), await new_user()
    project = await make_project(alice.client)
    task = await ok(
        alice.client.post("/api/tasks", json={"project_id": project["id"], "type": "engineering"}),
        201,
    )
    execution = await ok(
        service.post(
            "/api/task-executions",
            json={"request_id": "r-1", "task_id": task["id"], "worker_id": "w-1"},
        ),
        201,
    )

    assert (await bob.client.get(f"/api/tasks/{task['id']}")).status_code == 404
    assert (await bob.client.get("/api/tasks")).json() == []
    assert (await bob.client.get(f"/api/task-executions/{execution['id']}")).status_code == 404
    assert (await bob.client.get("/api/task-executions")).json() == []
    foreign = await bob.client.post(
        "/api/tasks", json={"project_id": project["id"], "type": "deploy"}
    )
    assert foreign.status_code == 422
    assert foreign.json()["details"][0]["field"] == "project_id"
    assert (await alice.client.get(f"/api/task-executions/{execution['id']}")).status_code == 200


async def test_a_user_key_cannot_create_projects_for_someone_else(new_user: NewUser) -> None:
    alice, bob = await new_user(), await new_user()
    response = await alice.client.post(
        "/api/projects", json={"name": "sneaky", "modules": ["backend"], "owner_id": bob.user_id}
    )
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "owner_id"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/servers", {"name": "s", "address": "10.0.0.1"}),
        ("post", "/api/users", {"username": "x"}),
        ("post", "/api/api-keys", {"name": "k", "principal": "service"}),
        ("get", "/api/api-keys", None),
        ("post", "/api/agent-configs", {"name": "po", "agent_type": "scripted"}),
        ("post", "/api/incidents", {"severity": "low", "title": "t"}),
    ],
)
async def test_a_user_key_may_not_use_service_only_routes(
    new_user: NewUser, method: str, path: str, body: dict[str, str] | None
) -> None:
    user = await new_user()
    response = await user.client.request(method, path, json=body)
    assert response.status_code == 403
    assert response.json()["error"] == "forbidden"


async def test_a_user_key_may_read_servers_and_incidents(
    new_user: NewUser, service: httpx.AsyncClient
) -> None:
    server = await make_server(service)
    user = await new_user()
    assert [s["id"] for s in await ok(user.client.get("/api/servers"))] == [server["id"]]
    assert await ok(user.client.get("/api/incidents")) == []


async def test_a_user_sees_only_itself_among_users(new_user: NewUser) -> None:
    alice, bob = await new_user(), await new_user()
    assert [u["id"] for u in await ok(alice.client.get("/api/users"))] == [alice.user_id]
    assert (await alice.client.get(f"/api/users/{bob.user_id}")).status_code == 404


async def test_create_admin_makes_one_service_key_and_refuses_a_second_without_asking(
    settings: ApiSettings, client_for: ClientFactory
) -> None:
    first = await create_admin_and_key(
        settings.database_url, admin_username="root", admin_telegram_id=42, new_key=False
    )
    second = await create_admin_and_key(
        settings.database_url, admin_username="root", admin_telegram_id=42, new_key=False
    )
    third = await create_admin_and_key(
        settings.database_url, admin_username="root", admin_telegram_id=42, new_key=True
    )

    assert first["success"]
    assert third["success"]
    assert second == {
        "success": False,
        "error": "service_key_exists",
        "message": "a service key exists; pass --new-key for another",
        "admin_user_id": first["admin_user_id"],
    }
    admin = await ok(client_for(first["service_key"]).get(f"/api/users/{first['admin_user_id']}"))
    assert admin["is_admin"] is True
    assert admin["telegram_id"] == 42
    assert (await client_for(third["service_key"]).get("/api/projects")).status_code == 200
