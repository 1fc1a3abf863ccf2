"""The API as infra-service's inventory of servers, ports, deployments and incidents."""

from __future__ import annotations

import re
from typing import Any, TypeVar

import httpx
from pydantic import ValidationError
from shared.api_client import request_or_refuse
from shared.contracts import (
    IncidentSeverity,
    PortAllocationRead,
    ProjectRead,
    ServerRead,
    ServerStatus,
    ServiceDeploymentRead,
)

from infra_service.ports import InventoryRefused

T = TypeVar("T", ServerRead, ProjectRead, PortAllocationRead, ServiceDeploymentRead)
_ID = re.compile(r"^[0-9a-f]{32}$")


class ApiInventory:
    """Raises InventoryRefused when the API refuses a request (a 4xx) or the request cannot
    even be made: asking again would be refused again. A 5xx or a connection error (the API
    client's `ApiUnavailable`, an httpx.TransportError) propagates as it is, to be retried."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def _request(
        self, method: str, path: str, *, allow: tuple[int, ...] = (), **kwargs: Any
    ) -> httpx.Response:
        return await request_or_refuse(
            self._client, method, path, refused=InventoryRefused, allow=allow, **kwargs
        )

    async def server(self, handle: str) -> ServerRead | None:
        """A server by its name, or by its id."""
        response = await self._request("GET", "/api/servers", params={"name": handle})
        found = response.json()
        if found:
            return _read(ServerRead, found[0])
        if not _ID.match(handle):
            return None
        response = await self._request("GET", f"/api/servers/{handle}", allow=(404,))
        if response.status_code == 404:
            return None
        return _read(ServerRead, response.json())

    async def project(self, project_id: str) -> ProjectRead | None:
        if not _ID.match(project_id):
            return None
        response = await self._request("GET", f"/api/projects/{project_id}", allow=(404,))
        if response.status_code == 404:
            return None
        return _read(ProjectRead, response.json())

    async def set_server_status(self, server_id: str, status: ServerStatus) -> None:
        await self._request("PATCH", f"/api/servers/{server_id}", json={"status": status.value})

    async def open_incident(
        self, server_id: str, severity: IncidentSeverity, title: str, details: str
    ) -> None:
        """Opens it unless the same one is already open (a dead server is one incident)."""
        response = await self._request(
            "GET",
            "/api/incidents",
            params={"server_id": server_id, "status": "open", "limit": 500},
        )
        if any(incident["title"] == title for incident in response.json()):
            return
        await self._request(
            "POST",
            "/api/incidents",
            json={
                "server_id": server_id,
                "severity": severity.value,
                "title": title,
                "details": details[-20_000:],
            },
        )

    async def port_for(
        self, server_id: str, project_id: str, service_name: str, port: int | None = None
    ) -> int:
        body: dict[str, object] = {
            "server_id": server_id,
            "project_id": project_id,
            "service_name": service_name,
        }
        if port is not None:
            body["port"] = port
        response = await self._request("POST", "/api/port-allocations", json=body)
        return _read(PortAllocationRead, response.json()).port

    async def record_deployment(
        self,
        *,
        project_id: str,
        server_id: str,
        service_name: str,
        port: int,
        commit_sha: str,
        url: str | None,
        running: bool,
    ) -> None:
        """A failed deploy leaves the record of what still runs (the previous release); only a
        service's first deploy is recorded `failed`."""
        response = await self._request(
            "GET",
            "/api/service-deployments",
            params={"project_id": project_id, "server_id": server_id, "limit": 500},
        )
        existing = [
            _read(ServiceDeploymentRead, d)
            for d in response.json()
            if d["service_name"] == service_name
        ]
        if existing and not running:
            return
        status = "running" if running else "failed"
        if existing:
            update: dict[str, object] = {"status": status, "commit_sha": commit_sha}
            if url:
                update["url"] = url
            await self._request("PATCH", f"/api/service-deployments/{existing[0].id}", json=update)
        else:
            await self._request(
                "POST",
                "/api/service-deployments",
                json={
                    "project_id": project_id,
                    "server_id": server_id,
                    "service_name": service_name,
                    "port": port,
                    "commit_sha": commit_sha,
                    "status": status,
                    "url": url,
                },
            )


def _read(model: type[T], data: object) -> T:
    """An answer the API should never give is no better on a second try."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InventoryRefused(f"the API answered an unreadable {model.__name__}: {exc}") from None
