"""The API as the scheduler sees it: servers, incidents, tasks and projects. Every list is read
to its end, page by page."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from shared.api_client import request_or_refuse
from shared.contracts import (
    IncidentRead,
    IncidentSeverity,
    IncidentStatus,
    ProjectRead,
    ServerCreate,
    ServerRead,
    ServerStatus,
    ServerUpdate,
    TaskRead,
    TaskStatus,
)

from scheduler.ports import ApiRefused

T = TypeVar("T", bound=BaseModel)
PAGE = 500
# A list longer than this is cut: a job sees the first ones now and the rest on later runs
# as the first ones change state.
MAX_ITEMS = 20_000


class ApiCatalog:
    """Raises ApiRefused for a 4xx (or an answer that is not what the API promises); a 5xx or a
    connection error propagates as it is, to be tried again by the next run."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _request(
        self, method: str, path: str, *, allow: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        return await request_or_refuse(
            self._client, method, path, refused=ApiRefused, allow=allow, **kwargs
        )

    async def _all(self, path: str, model: type[T], params: dict[str, str]) -> list[T]:
        items: list[T] = []
        while len(items) < MAX_ITEMS:
            response = await self._request(
                "GET", path, params={**params, "limit": PAGE, "offset": len(items)}
            )
            page = response.json()
            if not isinstance(page, list):
                raise ApiRefused(f"GET {path} answered something other than a list")
            items.extend(_read(model, item) for item in page)
            if len(page) < PAGE:
                break
        return items

    async def servers(self, status: ServerStatus | None = None) -> list[ServerRead]:
        params = {"status": status.value} if status else {}
        return await self._all("/api/servers", ServerRead, params)

    async def server(self, server_id: str) -> ServerRead | None:
        response = await self._request("GET", f"/api/servers/{server_id}", allow=(404, 422))
        if response.status_code != 200:
            return None
        return _read(ServerRead, response.json())

    async def create_server(self, server: ServerCreate) -> ServerRead:
        response = await self._request(
            "POST", "/api/servers", json=server.model_dump(mode="json", exclude_unset=True)
        )
        return _read(ServerRead, response.json())

    async def update_server(self, server_id: str, change: ServerUpdate) -> ServerRead:
        response = await self._request(
            "PATCH",
            f"/api/servers/{server_id}",
            json=change.model_dump(mode="json", exclude_unset=True),
        )
        return _read(ServerRead, response.json())

    async def open_incidents(self, server_id: str | None = None) -> list[IncidentRead]:
        """Incidents not resolved yet: open, or acknowledged by a person (still the same one)."""
        found: list[IncidentRead] = []
        for status in (IncidentStatus.OPEN, IncidentStatus.ACKNOWLEDGED):
            params = {"status": status.value}
            if server_id is not None:
                params["server_id"] = server_id
            found += await self._all("/api/incidents", IncidentRead, params)
        return found

    async def open_incident(
        self, *, server_id: str | None, severity: IncidentSeverity, title: str, details: str
    ) -> IncidentRead:
        for incident in await self.open_incidents(server_id):
            if incident.title == title and incident.server_id == server_id:
                return incident
        body: dict[str, Any] = {
            "severity": severity.value,
            "title": title[:300],
            "details": details[-20_000:],
        }
        if server_id is not None:
            body["server_id"] = server_id
        response = await self._request("POST", "/api/incidents", json=body)
        return _read(IncidentRead, response.json())

    async def resolve_incident(self, incident_id: str, details: str | None = None) -> None:
        body: dict[str, Any] = {"status": IncidentStatus.RESOLVED.value}
        if details is not None:
            body["details"] = details[-20_000:]
        await self._request("PATCH", f"/api/incidents/{incident_id}", json=body)

    async def tasks(self, status: TaskStatus) -> list[TaskRead]:
        return await self._all("/api/tasks", TaskRead, {"status": status.value})

    async def task(self, task_id: str) -> TaskRead | None:
        response = await self._request("GET", f"/api/tasks/{task_id}", allow=(404, 422))
        if response.status_code != 200:
            return None
        return _read(TaskRead, response.json())

    async def projects(self) -> list[ProjectRead]:
        return await self._all("/api/projects", ProjectRead, {})


def _read(model: type[T], data: Any) -> T:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiRefused(f"the API answered a {model.__name__} this code does not read") from exc
