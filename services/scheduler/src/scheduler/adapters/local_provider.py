"""The embedded machine as a provider: one server, this one, always running."""

from __future__ import annotations

from scheduler.ports import ProviderServer


class LocalProvider:
    def __init__(self, *, name: str, address: str) -> None:
        self._server = ProviderServer(provider_id="local", name=name, address=address, running=True)

    async def servers(self) -> list[ProviderServer]:
        return [self._server]
