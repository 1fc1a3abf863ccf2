"""The smoke check of a deployed project's URL."""

from __future__ import annotations

import httpx


class HttpHealth:
    def __init__(self, timeout_s: float = 5.0) -> None:
        # Deployed projects are never reached through a proxy from the environment.
        self._client = httpx.AsyncClient(timeout=timeout_s, trust_env=False)

    async def answers(self, url: str) -> bool:
        try:
            response = await self._client.get(url)
        except httpx.HTTPError:
            return False
        return response.status_code < 400

    async def aclose(self) -> None:
        await self._client.aclose()
