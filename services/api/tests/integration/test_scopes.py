"""A key's scopes narrow what its principal may do, on every route; only services close tasks."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from api_testing import ClientFactory, FirstAdmin, NewUser, make_project, ok
from fastapi import FastAPI
from shared.permissions import CLAIMS_SEPARATOR, SCOPES, encode_claims, key_claims

# The resource scope each route prefix is guarded by: a new router must be added here.
RESOURCE_OF = {
    "/api/projects": "projects",
    "/api/tasks": "tasks",
    "/api/task-executions": "executions",
    "/api/servers": "servers",
    "/api/incidents": "incidents",
    "/api/service-deployments": "deployments",
    "/api/port-allocations": "ports",
    "/api/users": "users",
    "/api/agent-configs": "agent-configs",
}


def expected_scope(method: str, path: str) -> str:
    if path.startswith("/api/api-keys"):
        return "api-keys:admin"
    if (method, path) == ("POST", "/api/tasks"):
        return "tasks:create"
    resource = RESOURCE_OF["/".join(path.split("/")[:3])]
    return f"{resource}:{'read' if method == 'GET' else 'write'}"


async def create_key(
    service: httpx.AsyncClient, user_id: str | None, scopes: list[str] | None
) -> dict[str, Any]:
    body = {
        "name": "agent",
        "principal": "user" if user_id else "service",
        "user_id": user_id,
        "scopes": scopes,
    }
    created: dict[str, Any] = await ok(service.post("/api/api-keys", json=body), 201)
    return created


async def new_task(client: httpx.AsyncClient, project_id: str) -> dict[str, Any]:
    body = {"project_id": project_id, "type": "engineering", "spec": "a todo API"}
    task: dict[str, Any] = await ok(client.post("/api/tasks", json=body), 201)
    return task


async def test_a_scoped_key_reaches_what_its_scopes_allow_and_is_refused_elsewhere(
    service: httpx.AsyncClient, client_for: ClientFactory, new_user: NewUser
) -> None:
    user = await new_user()
    project = await make_project(user.client)
    key = await create_key(service, user.user_id, ["projects:read", "tasks:read"])
    reader = client_for(key["key"])

    listed = await ok(reader.get("/api/projects"))
    read = await ok(reader.get(f"/api/projects/{project['id']}"))
    await ok(reader.get("/api/tasks"))
    created = await reader.post("/api/projects", json={"name": "nope", "modules": ["backend"]})
    queued = await reader.post("/api/tasks", json={"project_id": project["id"], "type": "deploy"})

    assert [p["id"] for p in listed] == [project["id"]]
    assert read["id"] == project["id"]
    assert created.status_code == 403
    assert created.json()["message"] == "this key lacks the scope projects:write"
    assert created.json()["context"] == {"scope": "projects:write"}
    assert queued.status_code == 403
    assert queued.json()["message"] == "this key lacks the scope tasks:create"


async def test_scopes_narrow_a_user_key_but_never_widen_it(
    service: httpx.AsyncClient, client_for: ClientFactory, new_user: NewUser
) -> None:
    user = await new_user()
    key = await create_key(service, user.user_id, ["servers:write", "api-keys:admin"])
    client = client_for(key["key"])

    server = await client.post("/api/servers", json={"name": "s1", "address": "10.0.0.1"})
    keys = await client.get("/api/api-keys")

    assert server.status_code == 403
    assert server.json()["message"] == "only a service key may do this"
    assert keys.status_code == 403


async def test_a_scoped_service_key_is_narrowed_too(
    service: httpx.AsyncClient, client_for: ClientFactory
) -> None:
    key = await create_key(service, None, ["servers:read"])
    client = client_for(key["key"])

    await ok(client.get("/api/servers"))
    refused = await client.get("/api/api-keys")

    assert refused.status_code == 403
    assert refused.json()["message"] == "this key lacks the scope api-keys:admin"


async def test_an_unscoped_user_key_keeps_every_right_of_its_user(new_user: NewUser) -> None:
    user = await new_user()
    project = await make_project(user.client)
    task = await new_task(user.client, project["id"])

    me = await ok(user.client.get("/api/auth/me"))
    cancelled = await ok(
        user.client.patch(f"/api/tasks/{task['id']}", json={"status": "cancelled"})
    )

    assert me == {
        "principal": "user",
        "user_id": user.user_id,
        "key_id": user.key_id,
        "scopes": None,
    }
    assert cancelled["status"] == "cancelled"


async def test_a_key_without_scopes_may_only_ask_who_it_is_on_every_route(
    app: FastAPI, service: httpx.AsyncClient, client_for: ClientFactory, new_user: NewUser
) -> None:
    user = await new_user()
    key = await create_key(service, user.user_id, [])
    client = client_for(key["key"])
    routes = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith("/api/") and path != "/api/auth/me"
        for method in operations
    ]

    refused: dict[str, Any] = {}
    for method, path in routes:
        url = re.sub(r"\{\w+\}", "0" * 32, path)
        response = await client.request(method, url, json={} if method != "GET" else None)
        refused[f"{method} {path}"] = (response.status_code, response.json().get("context"))
    me = await ok(client.get("/api/auth/me"))

    assert len(routes) > 30
    assert refused == {
        f"{method} {path}": (403, {"scope": expected_scope(method, path)})
        for method, path in routes
    }
    assert me["scopes"] == []


async def test_the_key_carries_its_scopes_for_the_cli_deduplicated_in_vocabulary_order(
    service: httpx.AsyncClient, client_for: ClientFactory, new_user: NewUser
) -> None:
    user = await new_user()
    key = await create_key(service, user.user_id, ["tasks:read", "projects:read", "tasks:read"])

    me = await ok(client_for(key["key"]).get("/api/auth/me"))
    listed = await ok(service.get("/api/api-keys", params={"user_id": user.user_id}))

    assert key["scopes"] == ["projects:read", "tasks:read"]
    assert key_claims(key["key"]) == ("projects:read", "tasks:read")
    assert key["prefix"] == key["key"][:10]
    assert me["scopes"] == ["projects:read", "tasks:read"]
    assert {k["id"]: k["scopes"] for k in listed} == {
        user.key_id: None,
        key["id"]: ["projects:read", "tasks:read"],
    }


async def test_a_key_whose_claims_were_edited_is_unknown(
    service: httpx.AsyncClient, client_for: ClientFactory, new_user: NewUser
) -> None:
    user = await new_user()
    key = await create_key(service, user.user_id, ["projects:read"])
    secret = key["key"].rpartition(CLAIMS_SEPARATOR)[0]

    widened = await client_for(secret + CLAIMS_SEPARATOR + encode_claims(SCOPES)).get(
        "/api/projects"
    )
    stripped = await client_for(secret).get("/api/projects")

    assert widened.status_code == 401
    assert stripped.status_code == 401
    await ok(client_for(key["key"]).get("/api/projects"))


async def test_an_unknown_scope_is_answered_422_naming_the_scopes_field(
    service: httpx.AsyncClient, first_admin: FirstAdmin
) -> None:
    response = await service.post(
        "/api/api-keys",
        json={
            "name": "agent",
            "principal": "user",
            "user_id": first_admin.admin_user_id,
            "scopes": ["projects:read", "tasks:destroy"],
        },
    )
    assert response.status_code == 422
    assert [d["field"] for d in response.json()["details"]] == ["scopes.1"]


async def test_a_service_key_says_who_it_is_with_full_rights(
    service: httpx.AsyncClient, first_admin: FirstAdmin
) -> None:
    me = await ok(service.get("/api/auth/me"))
    assert me["principal"] == "service"
    assert me["user_id"] is None
    assert me["scopes"] is None


class TestOnlyServicesCloseTasks:
    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"status": "completed"}, "status"),
            ({"status": "failed", "error": "gave up"}, "status"),
            ({"status": "running"}, "status"),
            ({"error": "just a note"}, "status"),
            ({"result": {"commit_sha": "abc"}}, "result"),
            ({"status": "cancelled", "result": {}}, "result"),
        ],
    )
    async def test_a_user_key_may_not_finish_run_or_report_on_a_task(
        self, new_user: NewUser, body: dict[str, Any], field: str
    ) -> None:
        user = await new_user()
        task = await new_task(user.client, (await make_project(user.client))["id"])
        path = f"/api/tasks/{task['id']}"

        response = await user.client.patch(path, json=body)

        assert response.status_code == 403
        assert [d["field"] for d in response.json()["details"]] == [field]
        assert (await ok(user.client.get(path)))["status"] == "queued"

    async def test_a_user_key_may_cancel_its_task_saying_why(self, new_user: NewUser) -> None:
        user = await new_user()
        task = await new_task(user.client, (await make_project(user.client))["id"])
        body = {"status": "cancelled", "error": "could not queue: Redis is down"}

        cancelled = await ok(user.client.patch(f"/api/tasks/{task['id']}", json=body))

        assert cancelled["status"] == "cancelled"
        assert cancelled["error"] == "could not queue: Redis is down"

    async def test_cancelling_takes_tasks_cancel_and_any_other_change_tasks_write(
        self, service: httpx.AsyncClient, client_for: ClientFactory, new_user: NewUser
    ) -> None:
        user = await new_user()
        task = await new_task(user.client, (await make_project(user.client))["id"])
        path = f"/api/tasks/{task['id']}"
        canceller = client_for((await create_key(service, user.user_id, ["tasks:cancel"]))["key"])
        writer = client_for((await create_key(service, None, ["tasks:write"]))["key"])

        noted = await canceller.patch(path, json={"error": "a note"})
        refused = await writer.patch(path, json={"status": "cancelled"})
        running = await ok(writer.patch(path, json={"status": "running"}))
        cancelled = await ok(canceller.patch(path, json={"status": "cancelled"}))

        assert noted.json()["context"] == {"scope": "tasks:write"}
        assert refused.json()["context"] == {"scope": "tasks:cancel"}
        assert running["status"] == "running"
        assert cancelled["status"] == "cancelled"

    async def test_a_user_key_may_read_but_not_record_or_change_task_executions(
        self, service: httpx.AsyncClient, new_user: NewUser
    ) -> None:
        user = await new_user()
        task = await new_task(user.client, (await make_project(user.client))["id"])
        body = {"request_id": "r-1", "task_id": task["id"], "worker_id": "w-1"}
        execution = await ok(service.post("/api/task-executions", json=body), 201)

        recorded = await user.client.post("/api/task-executions", json={**body, "request_id": "2"})
        changed = await user.client.patch(
            f"/api/task-executions/{execution['id']}", json={"status": "success"}
        )

        assert recorded.status_code == 403
        assert changed.status_code == 403
        assert [e["id"] for e in await ok(user.client.get("/api/task-executions"))] == [
            execution["id"]
        ]
