"""Servers, deployments, incidents, agent configs, executions and users: happy paths and errors."""

from __future__ import annotations

import httpx
from api_testing import NewUser, make_project, make_server, ok


class TestServers:
    async def test_a_server_is_registered_changed_and_filtered_by_status(
        self, service: httpx.AsyncClient
    ) -> None:
        server = await make_server(service, specs={"cpu_cores": 2, "memory_mb": 4096})
        await make_server(service)
        changed = await ok(
            service.patch(
                f"/api/servers/{server['id']}",
                json={"status": "active", "last_health_check_at": "2026-11-29T10:00:00Z"},
            ),
        )

        assert server["status"] == "new"
        assert server["specs"] == {"cpu_cores": 2, "memory_mb": 4096, "disk_gb": None}
        assert changed["status"] == "active"
        assert changed["last_health_check_at"] == "2026-11-29T10:00:00Z"
        active = await ok(service.get("/api/servers", params={"status": "active"}))
        assert [s["id"] for s in active] == [server["id"]]
        by_name = await ok(service.get("/api/servers", params={"name": server["name"]}))
        assert [s["id"] for s in by_name] == [server["id"]]

    async def test_a_duplicate_server_name_is_a_conflict(self, service: httpx.AsyncClient) -> None:
        server = await make_server(service)
        response = await service.post(
            "/api/servers", json={"name": server["name"], "address": "10.1.1.1"}
        )
        assert response.status_code == 409

    async def test_a_naive_timestamp_is_refused(self, service: httpx.AsyncClient) -> None:
        server = await make_server(service)
        response = await service.patch(
            f"/api/servers/{server['id']}", json={"last_health_check_at": "2026-11-29T10:00:00"}
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "last_health_check_at"


class TestDeploymentsAndIncidents:
    async def test_a_deployment_is_recorded_updated_and_seen_by_its_owner_only(
        self, service: httpx.AsyncClient, new_user: NewUser
    ) -> None:
        alice, bob = await new_user(), await new_user()
        project = await make_project(alice.client)
        server = await make_server(service)
        deployment = await ok(
            service.post(
                "/api/service-deployments",
                json={
                    "project_id": project["id"],
                    "server_id": server["id"],
                    "service_name": "web",
                    "port": 20001,
                    "commit_sha": "abc123",
                },
            ),
            201,
        )
        running = await ok(
            service.patch(
                f"/api/service-deployments/{deployment['id']}",
                json={"status": "running", "url": "http://127.0.0.1:20001"},
            ),
        )

        assert running["status"] == "running"
        assert [d["id"] for d in await ok(alice.client.get("/api/service-deployments"))] == [
            deployment["id"]
        ]
        assert await ok(bob.client.get("/api/service-deployments")) == []
        by_server = await ok(
            service.get("/api/service-deployments", params={"server_id": server["id"]})
        )
        assert len(by_server) == 1

    async def test_an_incident_is_opened_filtered_and_resolved(
        self, service: httpx.AsyncClient
    ) -> None:
        server = await make_server(service)
        incident = await ok(
            service.post(
                "/api/incidents",
                json={"server_id": server["id"], "severity": "high", "title": "unreachable"},
            ),
            201,
        )
        await ok(service.post("/api/incidents", json={"severity": "low", "title": "other"}), 201)

        open_on_server = await ok(
            service.get("/api/incidents", params={"status": "open", "server_id": server["id"]})
        )
        resolved = await ok(
            service.patch(f"/api/incidents/{incident['id']}", json={"status": "resolved"})
        )
        assert [i["id"] for i in open_on_server] == [incident["id"]]
        assert resolved["resolved_at"] is not None

    async def test_an_incident_on_an_unknown_server_names_the_field(
        self, service: httpx.AsyncClient
    ) -> None:
        response = await service.post(
            "/api/incidents", json={"server_id": "a" * 32, "severity": "low", "title": "t"}
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "server_id"


class TestAgentConfigs:
    async def test_an_agent_config_is_created_filtered_and_deactivated(
        self, service: httpx.AsyncClient
    ) -> None:
        config = await ok(
            service.post(
                "/api/agent-configs",
                json={"name": "product-owner", "agent_type": "claude", "model": "opus"},
            ),
            201,
        )
        off = await ok(service.patch(f"/api/agent-configs/{config['id']}", json={"active": False}))
        assert off["active"] is False
        assert await ok(service.get("/api/agent-configs", params={"active": True})) == []
        duplicate = await service.post(
            "/api/agent-configs", json={"name": "product-owner", "agent_type": "codex"}
        )
        assert duplicate.status_code == 409


class TestExecutions:
    async def test_an_execution_is_recorded_once_per_request_and_finished(
        self, service: httpx.AsyncClient, new_user: NewUser
    ) -> None:
        user = await new_user()
        project = await make_project(user.client)
        task = await ok(
            user.client.post(
                "/api/tasks", json={"project_id": project["id"], "type": "engineering"}
            ),
            201,
        )
        body = {"request_id": "req-1", "task_id": task["id"], "worker_id": "w-1"}
        first = await ok(service.post("/api/task-executions", json=body), 201)
        again = await ok(service.post("/api/task-executions", json=body), 200)
        finished = await ok(
            service.patch(
                f"/api/task-executions/{first['id']}",
                json={
                    "status": "success",
                    "exit_code": 0,
                    "duration_ms": 1234,
                    "finished_at": "2026-11-29T10:00:00+00:00",
                },
            ),
        )

        assert again == first
        assert finished["status"] == "success"
        assert finished["duration_ms"] == 1234
        by_task = await ok(service.get("/api/task-executions", params={"task_id": task["id"]}))
        assert [e["id"] for e in by_task] == [first["id"]]

    async def test_a_request_id_reused_for_another_task_is_a_conflict(
        self, service: httpx.AsyncClient, new_user: NewUser
    ) -> None:
        user = await new_user()
        project = await make_project(user.client)
        tasks = [
            await ok(
                user.client.post(
                    "/api/tasks", json={"project_id": project["id"], "type": "deploy"}
                ),
                201,
            )
            for _ in range(2)
        ]
        body = {"request_id": "req-9", "worker_id": "w"}
        await ok(
            service.post("/api/task-executions", json={**body, "task_id": tasks[0]["id"]}), 201
        )
        response = await service.post(
            "/api/task-executions", json={**body, "task_id": tasks[1]["id"]}
        )
        assert response.status_code == 409


class TestUsers:
    async def test_a_user_is_found_by_telegram_id_and_made_admin(
        self, service: httpx.AsyncClient
    ) -> None:
        user = await ok(
            service.post("/api/users", json={"username": "tg", "telegram_id": 777}), 201
        )
        found = await ok(service.get("/api/users", params={"telegram_id": 777}))
        admin = await ok(service.patch(f"/api/users/{user['id']}", json={"is_admin": True}))
        assert [u["id"] for u in found] == [user["id"]]
        assert admin["is_admin"] is True

    async def test_a_duplicate_telegram_id_is_a_conflict(self, service: httpx.AsyncClient) -> None:
        await ok(service.post("/api/users", json={"username": "a", "telegram_id": 5}), 201)
        response = await service.post("/api/users", json={"username": "b", "telegram_id": 5})
        assert response.status_code == 409
        assert response.json()["error"] == "conflict"

    async def test_a_user_key_for_an_unknown_user_names_the_field(
        self, service: httpx.AsyncClient
    ) -> None:
        response = await service.post(
            "/api/api-keys", json={"name": "k", "principal": "user", "user_id": "b" * 32}
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "user_id"
