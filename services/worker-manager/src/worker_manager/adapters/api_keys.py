"""Workers' API keys, through the API (worker-manager holds a service key)."""

from __future__ import annotations

import httpx


class ApiWorkerKeys:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def create(
        self, user_id: str, worker_id: str, ttl_s: int, scopes: tuple[str, ...]
    ) -> tuple[str, str]:
        response = await self._client.post(
            "/api/api-keys",
            json={
                "name": f"worker {worker_id}",
                "principal": "user",
                "user_id": user_id,
                "ttl_seconds": ttl_s,
                "scopes": list(scopes),
            },
        )
        response.raise_for_status()
        body = response.json()
        return str(body["id"]), str(body["key"])

    async def revoke(self, key_id: str) -> None:
        response = await self._client.delete(f"/api/api-keys/{key_id}")
        if response.status_code != 404:
            response.raise_for_status()
