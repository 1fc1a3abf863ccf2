"""Parameters nobody can store are refused with 422 naming them, never a database error."""

from __future__ import annotations

import httpx
import pytest
from api_testing import make_server, ok


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ("/api/servers?name=a%00b", "query.name"),
        ("/api/projects?status=draft&name=%00", "query.name"),
        ("/api/tasks?project_id=%00", "query.project_id"),
        ("/api/servers?%00=1", "query.\\x00"),
        ("/api/servers/a%00b", "path.server_id"),
    ],
)
async def test_a_nul_character_in_a_parameter_is_answered_422_naming_it(
    service: httpx.AsyncClient, path: str, field: str
) -> None:
    response = await service.get(path)

    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "validation_error"
    assert field in [d["field"] for d in body["details"]]


async def test_a_server_name_longer_than_a_handle_is_answered_422(
    service: httpx.AsyncClient,
) -> None:
    await make_server(service)
    response = await service.get("/api/servers", params={"name": "n" * 64})
    assert response.status_code == 422
    assert response.json()["details"][0]["field"] == "query.name"


async def test_ordinary_parameters_still_work(service: httpx.AsyncClient) -> None:
    server = await make_server(service)
    listed = await ok(service.get("/api/servers", params={"name": server["name"]}))
    assert [s["id"] for s in listed] == [server["id"]]
    assert (await ok(service.get(f"/api/servers/{server['id']}")))["id"] == server["id"]


async def test_a_body_key_holding_a_nul_is_named_escaped_in_the_422(
    service: httpx.AsyncClient,
) -> None:
    server = await make_server(service)
    response = await service.patch(
        f"/api/servers/{server['id']}",
        content=b'{"a\\u0000b": 1}',
        headers={"Content-Type": "application/json"},
    )

    assert response.status_code == 422, response.text
    assert response.json()["details"][0]["field"] == "a\\x00b", response.text
