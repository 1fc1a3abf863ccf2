"""The API's projects over HTTP. A 404 is "no such project", another 4xx is a refusal; a 5xx or
a connection error propagates, to be retried (the entry stays pending)."""

from __future__ import annotations

import httpx
from shared.contracts import ProjectRead, ProjectStatus

from scaffolder.ports import ProjectsRefused


class ApiProjects:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def get(self, project_id: str) -> ProjectRead | None:
        response = await self._client.get(f"/api/projects/{project_id}")
        # 422: the API says no project could have that id.
        if response.status_code in (404, 422):
            return None
        self._raise_for(response)
        return ProjectRead.model_validate_json(response.content)

    async def update(
        self,
        project_id: str,
        *,
        status: ProjectStatus | None = None,
        repository_url: str | None = None,
    ) -> None:
        body: dict[str, str] = {}
        if status is not None:
            body["status"] = status.value
        if repository_url is not None:
            body["repository_url"] = repository_url
        if body:
            self._raise_for(await self._client.patch(f"/api/projects/{project_id}", json=body))

    @staticmethod
    def _raise_for(response: httpx.Response) -> None:
        if 400 <= response.status_code < 500:
            raise ProjectsRefused(
                f"the API answered {response.status_code} to {response.request.method} "
                f"{response.request.url.path}: {response.text[:300]}"
            )
        response.raise_for_status()
