"""The API as the bot's directory of users and its catalog of projects, tasks, servers and
incidents.

Anything but an answer (the API down, a 5xx, and also a 401 or 403: the bot's key is wrong,
which an operator fixes) is `Unavailable`: the user is told to try again shortly and the error
is logged. A 404 (or a malformed id, 422) is "no such thing"."""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
import structlog
from pydantic import BaseModel, ValidationError
from shared.contracts import (
    IncidentRead,
    IncidentStatus,
    ProjectRead,
    ServerRead,
    TaskRead,
    UserRead,
)

from telegram_bot.ports import Unavailable

log = structlog.get_logger("telegram_bot")

M = TypeVar("M", bound=BaseModel)
PAGE = 500
# A list longer than this many pages is cut (the bot shows the latest few anyway).
MAX_PAGES = 20


class ApiDirectory:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def by_telegram_id(self, telegram_id: int) -> UserRead | None:
        found = await self._list(UserRead, "/api/users", telegram_id=telegram_id)
        return found[0] if found else None

    async def get(self, user_id: str) -> UserRead | None:
        return await self._one(UserRead, f"/api/users/{user_id}")

    async def admins(self) -> list[UserRead]:
        return [user for user in await self._list(UserRead, "/api/users") if user.is_admin]

    async def projects(self, owner_id: str) -> list[ProjectRead]:
        return await self._list(ProjectRead, "/api/projects", owner_id=owner_id)

    async def project(self, project_id: str) -> ProjectRead | None:
        return await self._one(ProjectRead, f"/api/projects/{project_id}")

    async def tasks(self, owner_id: str) -> list[TaskRead]:
        return await self._list(TaskRead, "/api/tasks", owner_id=owner_id)

    async def servers(self) -> list[ServerRead]:
        return await self._list(ServerRead, "/api/servers")

    async def open_incidents(self) -> list[IncidentRead]:
        return await self._list(IncidentRead, "/api/incidents", status=IncidentStatus.OPEN.value)

    async def _one(self, model: type[M], path: str) -> M | None:
        body = await self._get(path, {})
        return None if body is None else _read(model, body)

    async def _list(self, model: type[M], path: str, **filters: Any) -> list[M]:
        items: list[M] = []
        for page in range(MAX_PAGES):
            body = await self._get(path, {**filters, "limit": PAGE, "offset": page * PAGE})
            batch = [_read(model, item) for item in body or []]
            items.extend(batch)
            if len(batch) < PAGE:
                break
        return items

    async def _get(self, path: str, params: dict[str, Any]) -> Any:
        try:
            response = await self._client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise Unavailable(f"the API: {type(exc).__name__}: {exc}"[:500]) from exc
        if response.status_code in (404, 422):
            return None
        if response.status_code != 200:
            log.error("the API refused the bot", path=path, status=response.status_code)
            raise Unavailable(f"the API answered {response.status_code} to GET {path[:100]}")
        try:
            return response.json()
        except ValueError as exc:
            raise Unavailable(f"the API answered GET {path[:100]} with no JSON") from exc


def _read(model: type[M], data: Any) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Unavailable(f"the API answered a {model.__name__} that does not validate") from exc
