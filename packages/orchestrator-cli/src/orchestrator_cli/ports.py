"""What the handlers need from the outside."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pydantic import BaseModel


class Api(Protocol):
    def get(self, path: str, **params: Any) -> Any: ...
    def post(self, path: str, body: dict[str, Any]) -> Any: ...
    def patch(self, path: str, body: dict[str, Any]) -> Any: ...


class Queue(Protocol):
    def publish(self, stream: str, message: BaseModel) -> str: ...
    def ping(self, streams: list[str]) -> dict[str, Any]: ...
