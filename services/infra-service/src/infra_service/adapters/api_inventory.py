"""The API as infra-service's inventory of servers, ports, deployments and incidents."""

from __future__ import annotations

import re

import httpx
from shared.contracts import (
    IncidentSeverity,
    PortAllocationRead,
    ServerRead,
    ServerStatus,
    ServiceDeploymentRead,
)

_ID = re.compile(r"^[0-9a-f]{32}$")


class ApiInventory:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def server(self, handle: str) -> ServerRead | None:
        """A server by its name, or by its id."""
        response = await self._client.get("/api/servers", params={"name": handle})
        response.raise_for_status()
        found = response.json()
        if found:
            return ServerRead.model_validate(found[0])
        if not _ID.match(handle):
            return None
        response = await self._client.get(f"/api/servers/{handle}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return ServerRead.model_validate(response.json())

    async def set_server_status(self, server_id: str, status: ServerStatus) -> None:
        response = await self._client.patch(
            f"/api/servers/{server_id}", json={"status": status.value}
        )
        response.raise_for_status()

    async def open_incident(
        self, server_id: str, severity: IncidentSeverity, title: str, details: str
    ) -> None:
        """Opens it unless the same one is already open (a dead server is one incident)."""
        response = await self._client.get(
            "/api/incidents", params={"server_id": server_id, "status": "open", "limit": 500}
        )
        response.raise_for_status()
        if any(incident["title"] == title for incident in response.json()):
            return
        response = await self._client.post(
            "/api/incidents",
            json={
                "server_id": server_id,
                "severity": severity.value,
                "title": title,
                "details": details[-20_000:],
            },
        )
        response.raise_for_status()

    async def port_for(self, server_id: str, project_id: str, service_name: str) -> int:
        response = await self._client.post(
            "/api/port-allocations",
            json={"server_id": server_id, "project_id": project_id, "service_name": service_name},
        )
        response.raise_for_status()
        return PortAllocationRead.model_validate(response.json()).port

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
        response = await self._client.get(
            "/api/service-deployments",
            params={"project_id": project_id, "server_id": server_id, "limit": 500},
        )
        response.raise_for_status()
        existing = [
            ServiceDeploymentRead.model_validate(d)
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
            response = await self._client.patch(
                f"/api/service-deployments/{existing[0].id}", json=update
            )
        else:
            response = await self._client.post(
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
        response.raise_for_status()
