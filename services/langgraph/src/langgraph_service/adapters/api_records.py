"""The API's projects, tasks, task executions and servers over HTTP. A 404 is "no such
record"; another 4xx is Refused; a 5xx or a connection error propagates (the flow's step runs
again: its stream entry stays pending, or the sweeper continues it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
from shared.contracts import (
    OutcomeStatus,
    PortAllocationRead,
    ProjectRead,
    ProjectStatus,
    ServerRead,
    TaskExecutionRead,
    TaskRead,
    TaskStatus,
)

from langgraph_service.ports import Refused

# The API's limit on `id` values in one list request.
IDS_PER_REQUEST = 100


class ApiRecords:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        response = await self._client.request(method, path, **kwargs)
        if response.status_code == 404:
            return None
        if 400 <= response.status_code < 500:
            raise Refused(
                f"the API answered {response.status_code} to {method} {path}: {response.text[:300]}"
            )
        response.raise_for_status()
        return response


class ApiProjects(ApiRecords):
    async def get(self, project_id: str) -> ProjectRead | None:
        response = await self._send("GET", f"/api/projects/{project_id}")
        return ProjectRead.model_validate_json(response.content) if response else None

    async def update(
        self,
        project_id: str,
        *,
        status: ProjectStatus | None = None,
        commit_sha: str | None = None,
    ) -> None:
        body: dict[str, str] = {}
        if status is not None:
            body["status"] = status.value
        if commit_sha is not None:
            body["commit_sha"] = commit_sha
        if body:
            await self._send("PATCH", f"/api/projects/{project_id}", json=body)


class ApiTasks(ApiRecords):
    async def get(self, task_id: str) -> TaskRead | None:
        response = await self._send("GET", f"/api/tasks/{task_id}")
        return TaskRead.model_validate_json(response.content) if response else None

    async def update(
        self,
        task_id: str,
        *,
        status: TaskStatus,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        body: dict[str, Any] = {"status": status.value}
        if result:
            body["result"] = result
        if error:
            body["error"] = error[:10_000]
        await self._send("PATCH", f"/api/tasks/{task_id}", json=body)

    async def cancelled(self, task_ids: list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(task_ids), IDS_PER_REQUEST):
            chunk = task_ids[start : start + IDS_PER_REQUEST]
            params = [("status", TaskStatus.CANCELLED.value), ("limit", "500")]
            params += [("id", task_id) for task_id in chunk]
            response = await self._send("GET", "/api/tasks", params=params)
            if response is not None:
                found |= {task["id"] for task in response.json()}
        # Only what was asked about, whatever the API answered.
        return found & set(task_ids)


class ApiExecutions(ApiRecords):
    async def start(self, request_id: str, task_id: str, worker_id: str) -> str | None:
        execution = await self._record(request_id, task_id, worker_id)
        return execution.id if execution else None

    async def finish(
        self,
        request_id: str,
        *,
        execution_id: str | None,
        task_id: str,
        worker_id: str,
        status: OutcomeStatus,
        duration_ms: int | None,
        exit_code: int | None,
        result: dict[str, Any],
    ) -> None:
        if execution_id is None:
            execution_id = await self.start(request_id, task_id, worker_id)
            if execution_id is None:
                return
        body: dict[str, Any] = {"status": status.value, "result": result, "finished_at": _now_iso()}
        if duration_ms is not None:
            body["duration_ms"] = duration_ms
        if exit_code is not None and -(2**31) <= exit_code < 2**31:
            body["exit_code"] = exit_code
        await self._send("PATCH", f"/api/task-executions/{execution_id}", json=body)

    async def _record(
        self, request_id: str, task_id: str, worker_id: str
    ) -> TaskExecutionRead | None:
        """The run's row, created the first time (the API keeps one per request_id)."""
        body = {"request_id": request_id, "task_id": task_id, "worker_id": worker_id}
        response = await self._send("POST", "/api/task-executions", json=body)
        return TaskExecutionRead.model_validate_json(response.content) if response else None


class ApiServers(ApiRecords):
    async def by_name(self, name: str) -> ServerRead | None:
        response = await self._send("GET", "/api/servers", params={"name": name})
        if response is None:
            return None
        servers = [ServerRead.model_validate(item) for item in response.json()]
        return next((server for server in servers if server.name == name), None)

    async def allocate_port(self, server_id: str, project_id: str, service_name: str) -> int:
        body = {"server_id": server_id, "project_id": project_id, "service_name": service_name}
        response = await self._send("POST", "/api/port-allocations", json=body)
        if response is None:
            raise Refused(f"the API knows no server {server_id} or project {project_id}")
        return PortAllocationRead.model_validate_json(response.content).port


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()
