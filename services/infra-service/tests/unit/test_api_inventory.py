"""How the API's answers are sorted: refused for good (a failed result now) or transient."""

from __future__ import annotations

import httpx
import pytest
from infra_service.adapters.api_inventory import ApiInventory
from infra_service.ports import InventoryRefused
from shared.api_client import ApiClient, ApiUnavailable


def inventory(status: int, body: object = None) -> ApiInventory:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body if body is not None else {"detail": "no"})

    client = httpx.AsyncClient(base_url="http://api", transport=httpx.MockTransport(answer))
    return ApiInventory(client)


@pytest.mark.parametrize("status", [400, 403, 404, 409, 422])
async def test_a_4xx_is_refused_for_good_naming_the_status(status: int) -> None:
    with pytest.raises(InventoryRefused, match=f"answered {status}"):
        await inventory(status).port_for("s" * 32, "p" * 32, "web", port=20000)


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_a_5xx_is_transient_and_raised_as_it_is(status: int) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        await inventory(status).server("web-1")


async def test_an_answer_that_cannot_be_read_is_refused_for_good() -> None:
    with pytest.raises(InventoryRefused, match="unreadable ServerRead"):
        await inventory(200, [{"name": "web-1"}]).server("web-1")


async def test_an_unknown_project_is_none_and_a_malformed_id_never_asked() -> None:
    assert await inventory(404).project("0" * 32) is None
    assert await inventory(500).project("../servers") is None


async def test_an_api_that_cannot_be_reached_is_transient_and_named() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    client = ApiClient(base_url="http://api", transport=httpx.MockTransport(refuse))

    with pytest.raises(ApiUnavailable, match="the API at http://api"):
        await ApiInventory(client).server("web-1")
