"""Small fakes of the ports every stream cube has, for unit tests of handlers."""

from __future__ import annotations

from pydantic import BaseModel


class FakePublisher:
    """Keeps what was published, in order; answers with entry ids as Redis would."""

    def __init__(self) -> None:
        self.published: list[tuple[str, BaseModel]] = []

    async def publish(self, stream: str, message: BaseModel) -> str:
        self.published.append((stream, message))
        return f"{len(self.published)}-0"

    def on(self, stream: str) -> list[BaseModel]:
        """What was published to `stream`."""
        return [message for name, message in self.published if name == stream]
