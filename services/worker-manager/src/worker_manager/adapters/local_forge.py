"""The local forge (bare repositories on this machine, the embedded default): workers push to a
path, with no credential to mint or revoke."""

from __future__ import annotations


class LocalForgeTokens:
    async def mint(self, worker_id: str, repository: str) -> str | None:
        return None

    async def revoke(self, worker_id: str) -> None:
        return None
