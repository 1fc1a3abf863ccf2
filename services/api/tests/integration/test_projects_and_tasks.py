"""Projects and tasks: CRUD, filters, and their status rules."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from api_testing import FirstAdmin, NewUser, make_project, ok


async def new_task(client: httpx.AsyncClient, project_id: str, **fields: Any) -> dict[str, Any]:
    body = {"project_id": project_id, "type": "engineering", "spec": "a todo API", **fields}
    task: dict[str, Any] = await ok(client.post("/api/tasks", json=body), 201)
    return task


class TestProjects:
    async def test_a_project_is_created_in_draft_and_read_back(self, new_user: NewUser) -> None:
        user = await new_user()
        created = await make_project(user.client, description="todo list")
        assert created["status"] == "draft"
        assert created["owner_id"] == user.user_id
        assert await ok(user.client.get(f"/api/projects/{created['id']}")) == created

    async def test_a_service_must_name_the_owner(self, service: httpx.AsyncClient) -> None:
        response = await service.post("/api/projects", json={"name": "x", "modules": ["backend"]})
        assert response.status_code == 422
        assert response.json()["details"] == [
            {"field": "owner_id", "message": "a service must name the project's owner"}
        ]

    async def test_a_second_project_with_the_same_name_is_a_conflict(
        self, new_user: NewUser
    ) -> None:
        user = await new_user()
        first = await make_project(user.client)
        response = await user.client.post(
            "/api/projects", json={"name": first["name"], "modules": ["backend"]}
        )
        assert response.status_code == 409
        assert response.json()["details"][0]["field"] == "name"

    async def test_invalid_input_is_answered_422_naming_the_field(self, new_user: NewUser) -> None:
        user = await new_user()
        response = await user.client.post(
            "/api/projects", json={"name": "Bad Name!", "modules": []}
        )
        body = response.json()
        assert response.status_code == 422
        assert body["error"] == "validation_error"
        assert {d["field"] for d in body["details"]} == {"name", "modules"}

    async def test_status_moves_along_the_allowed_transitions(self, new_user: NewUser) -> None:
        user = await new_user()
        project = await make_project(user.client)
        path = f"/api/projects/{project['id']}"
        for status in ["scaffolding", "scaffolded", "developing", "testing", "deploying", "active"]:
            moved = await ok(user.client.patch(path, json={"status": status}))
            assert moved["status"] == status

    async def test_a_tested_project_rests_in_ready_until_a_deploy_takes_it(
        self, new_user: NewUser
    ) -> None:
        user = await new_user()
        project = await make_project(user.client)
        path = f"/api/projects/{project['id']}"
        for status in ["scaffolding", "scaffolded", "developing", "testing", "ready"]:
            await ok(user.client.patch(path, json={"status": status}))
        ready = await ok(user.client.get("/api/projects", params={"status": "ready"}))
        deploying = await ok(user.client.patch(path, json={"status": "deploying"}))
        assert [p["id"] for p in ready] == [project["id"]]
        assert deploying["status"] == "deploying"

    async def test_a_ready_project_may_go_back_to_development_but_not_to_testing(
        self, new_user: NewUser
    ) -> None:
        user = await new_user()
        project = await make_project(user.client)
        path = f"/api/projects/{project['id']}"
        for status in ["scaffolding", "scaffolded", "developing", "testing", "ready"]:
            await ok(user.client.patch(path, json={"status": status}))
        refused = await user.client.patch(path, json={"status": "testing"})
        assert refused.status_code == 409
        assert refused.json()["context"] == {"from": "ready", "to": "testing"}
        assert (await ok(user.client.patch(path, json={"status": "developing"})))["status"] == (
            "developing"
        )

    async def test_the_tested_commit_is_recorded_and_read_back(
        self, new_user: NewUser, service: httpx.AsyncClient
    ) -> None:
        user = await new_user()
        project = await make_project(user.client)
        path = f"/api/projects/{project['id']}"
        sha = "0123456789abcdef0123456789abcdef01234567"
        assert project["commit_sha"] is None

        updated = await ok(service.patch(path, json={"commit_sha": sha, "status": "scaffolding"}))
        described = await ok(user.client.patch(path, json={"description": "still there"}))

        assert updated["commit_sha"] == sha
        assert described["commit_sha"] == sha
        assert (await ok(user.client.get(path)))["commit_sha"] == sha
        listed = await ok(user.client.get("/api/projects"))
        assert [p["commit_sha"] for p in listed] == [sha]

    @pytest.mark.parametrize("sha", ["not-a-sha", "ABCDEF12", "abc", "a" * 65, ""])
    async def test_an_invalid_commit_sha_is_answered_422_naming_the_field(
        self, new_user: NewUser, sha: str
    ) -> None:
        user = await new_user()
        project = await make_project(user.client)
        path = f"/api/projects/{project['id']}"
        response = await user.client.patch(path, json={"commit_sha": sha})
        assert response.status_code == 422
        assert [d["field"] for d in response.json()["details"]] == ["commit_sha"]
        assert (await ok(user.client.get(path)))["commit_sha"] is None

    @pytest.mark.parametrize("target", ["active", "scaffolded", "testing", "ready"])
    async def test_a_status_jump_off_the_transitions_is_refused(
        self, new_user: NewUser, target: str
    ) -> None:
        user = await new_user()
        project = await make_project(user.client)
        response = await user.client.patch(
            f"/api/projects/{project['id']}", json={"status": target}
        )
        assert response.status_code == 409
        assert response.json()["error"] == "invalid_transition"
        assert response.json()["context"] == {"from": "draft", "to": target}

    async def test_an_archived_project_stays_archived(self, new_user: NewUser) -> None:
        user = await new_user()
        project = await make_project(user.client)
        path = f"/api/projects/{project['id']}"
        await ok(user.client.patch(path, json={"status": "archived"}))
        assert (await user.client.patch(path, json={"status": "draft"})).status_code == 409

    async def test_projects_are_filtered_by_owner_and_status(
        self, new_user: NewUser, service: httpx.AsyncClient
    ) -> None:
        alice, bob = await new_user(), await new_user()
        a1 = await make_project(alice.client)
        await make_project(alice.client)
        await make_project(bob.client)
        await ok(alice.client.patch(f"/api/projects/{a1['id']}", json={"status": "scaffolding"}))

        by_owner = await ok(service.get("/api/projects", params={"owner_id": alice.user_id}))
        scaffolding = await ok(
            service.get(
                "/api/projects", params={"owner_id": alice.user_id, "status": "scaffolding"}
            )
        )
        assert len(by_owner) == 2
        assert [p["id"] for p in scaffolding] == [a1["id"]]

    async def test_an_unknown_project_is_not_found(self, service: httpx.AsyncClient) -> None:
        response = await service.get("/api/projects/" + "0" * 32)
        assert response.status_code == 404

    async def test_a_malformed_id_is_a_validation_error(self, service: httpx.AsyncClient) -> None:
        response = await service.get("/api/projects/not-an-id")
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "path.project_id"


class TestTasks:
    async def test_a_task_is_queued_for_its_projects_owner(self, new_user: NewUser) -> None:
        user = await new_user()
        project = await make_project(user.client)
        task = await new_task(user.client, project["id"])
        assert task["status"] == "queued"
        assert task["owner_id"] == user.user_id
        assert task["started_at"] is None

    async def test_a_task_runs_then_completes_with_its_times_recorded(
        self, new_user: NewUser, service: httpx.AsyncClient
    ) -> None:
        user = await new_user()
        task = await new_task(user.client, (await make_project(user.client))["id"])
        path = f"/api/tasks/{task['id']}"
        running = await ok(service.patch(path, json={"status": "running"}))
        finish = {"status": "completed", "result": {"commit_sha": "abc"}}
        done = await ok(service.patch(path, json=finish))
        assert running["started_at"] is not None
        assert done["finished_at"] is not None
        assert done["result"] == {"commit_sha": "abc"}

    async def test_a_different_terminal_status_after_the_first_is_a_conflict(
        self, new_user: NewUser, service: httpx.AsyncClient
    ) -> None:
        user = await new_user()
        task = await new_task(user.client, (await make_project(user.client))["id"])
        path = f"/api/tasks/{task['id']}"
        done = await ok(service.patch(path, json={"status": "completed"}))

        refused = await service.patch(path, json={"status": "failed", "error": "late"})
        repeated = await ok(service.patch(path, json={"status": "completed", "result": {"x": 1}}))

        assert refused.status_code == 409
        assert refused.json()["context"] == {"status": "completed", "refused": "failed"}
        assert repeated == done
        assert (await ok(user.client.get(path)))["error"] is None

    async def test_a_finished_task_cannot_go_back_to_running(
        self, new_user: NewUser, service: httpx.AsyncClient
    ) -> None:
        user = await new_user()
        task = await new_task(user.client, (await make_project(user.client))["id"])
        path = f"/api/tasks/{task['id']}"
        await ok(user.client.patch(path, json={"status": "cancelled"}))
        assert (await service.patch(path, json={"status": "running"})).status_code == 409

    async def test_a_running_task_cannot_be_queued_again(
        self, new_user: NewUser, service: httpx.AsyncClient
    ) -> None:
        user = await new_user()
        task = await new_task(user.client, (await make_project(user.client))["id"])
        path = f"/api/tasks/{task['id']}"
        await ok(service.patch(path, json={"status": "running"}))
        response = await service.patch(path, json={"status": "queued"})
        assert response.status_code == 409
        assert response.json()["error"] == "invalid_transition"

    async def test_concurrent_terminal_writes_leave_exactly_one_winner(
        self, new_user: NewUser, service: httpx.AsyncClient
    ) -> None:
        user = await new_user()
        task = await new_task(user.client, (await make_project(user.client))["id"])
        path = f"/api/tasks/{task['id']}"
        outcomes = ["completed", "failed", "cancelled"] * 4
        responses = await asyncio.gather(
            *(service.patch(path, json={"status": s}) for s in outcomes)
        )
        final = (await ok(user.client.get(path)))["status"]
        for status, response in zip(outcomes, responses, strict=True):
            assert response.status_code == (200 if status == final else 409)

    async def test_tasks_are_filtered_by_project_status_owner_and_type(
        self, new_user: NewUser, service: httpx.AsyncClient
    ) -> None:
        alice, bob = await new_user(), await new_user()
        p1, p2 = await make_project(alice.client), await make_project(alice.client)
        t1 = await new_task(alice.client, p1["id"])
        await new_task(alice.client, p2["id"], type="deploy")
        await new_task(bob.client, (await make_project(bob.client))["id"])
        await ok(service.patch(f"/api/tasks/{t1['id']}", json={"status": "running"}))

        def ids(tasks: list[dict[str, Any]]) -> list[str]:
            return [t["id"] for t in tasks]

        assert ids(await ok(service.get("/api/tasks", params={"project_id": p1["id"]}))) == [
            t1["id"]
        ]
        assert ids(await ok(service.get("/api/tasks", params={"status": "running"}))) == [t1["id"]]
        assert len(await ok(service.get("/api/tasks", params={"owner_id": alice.user_id}))) == 2
        deploys = await ok(service.get("/api/tasks", params={"type": "deploy"}))
        assert [t["project_id"] for t in deploys] == [p2["id"]]

    async def test_tasks_are_asked_for_by_id_together_with_other_filters(
        self, new_user: NewUser, service: httpx.AsyncClient
    ) -> None:
        user = await new_user()
        project = await make_project(user.client)
        t1, t2, t3 = [await new_task(user.client, project["id"]) for _ in range(3)]
        for task in (t1, t3):
            await ok(user.client.patch(f"/api/tasks/{task['id']}", json={"status": "cancelled"}))

        def ask(**params: Any) -> Any:
            return ok(service.get("/api/tasks", params=params))

        both = await ask(id=[t1["id"], t2["id"]])
        cancelled = await ask(id=[t1["id"], t2["id"]], status="cancelled")
        unknown = await ask(id=["f" * 32])
        assert [t["id"] for t in both] == [t1["id"], t2["id"]]
        assert [t["id"] for t in cancelled] == [t1["id"]]
        assert unknown == []

    async def test_a_user_asking_for_tasks_by_id_sees_only_its_own(self, new_user: NewUser) -> None:
        alice, bob = await new_user(), await new_user()
        alices = (await make_project(alice.client))["id"]
        mine = await new_task(alice.client, alices)
        await new_task(alice.client, alices)  # not asked for
        theirs = await new_task(bob.client, (await make_project(bob.client))["id"])
        listed = await ok(alice.client.get("/api/tasks", params={"id": [mine["id"], theirs["id"]]}))
        assert [t["id"] for t in listed] == [mine["id"]]

    async def test_at_most_a_hundred_ids_may_be_asked_for(self, service: httpx.AsyncClient) -> None:
        hundred = [f"{n:032x}" for n in range(100)]
        assert await ok(service.get("/api/tasks", params={"id": hundred})) == []
        response = await service.get("/api/tasks", params={"id": [*hundred, "f" * 32]})
        assert response.status_code == 422
        assert [d["field"] for d in response.json()["details"]] == ["query.id"]

    @pytest.mark.parametrize("bad", ["not-an-id", "", "A" * 32])
    async def test_a_malformed_id_filter_is_answered_422_naming_it(
        self, service: httpx.AsyncClient, bad: str
    ) -> None:
        response = await service.get("/api/tasks", params={"id": ["0" * 32, bad]})
        assert response.status_code == 422
        assert [d["field"] for d in response.json()["details"]] == ["query.id.1"]

    async def test_a_task_for_an_unknown_project_names_the_field(
        self, service: httpx.AsyncClient, first_admin: FirstAdmin
    ) -> None:
        response = await service.post(
            "/api/tasks", json={"project_id": "f" * 32, "type": "engineering"}
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "project_id"

    async def test_text_with_a_nul_character_is_refused_not_stored(self, new_user: NewUser) -> None:
        user = await new_user()
        project = await make_project(user.client)
        response = await user.client.post(
            "/api/tasks",
            json={"project_id": project["id"], "type": "engineering", "spec": "bad\u0000spec"},
        )
        assert response.status_code == 422
        assert response.json()["details"][0]["field"] == "spec"
