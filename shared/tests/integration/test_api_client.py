"""The services' API client: its key on every request, and a clear error when the API is down."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from pydantic import SecretStr
from shared.api_client import ApiUnavailable, api_client
from shared.settings import ApiClientSettings


class Api:
    """A loopback HTTP server answering every request with 204, keeping the requests' heads."""

    def __init__(self) -> None:
        self.heads: list[bytes] = []
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.heads.append(await reader.readuntil(b"\r\n\r\n"))
        writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    fake = Api()
    server = await asyncio.start_server(fake._serve, "127.0.0.1", 0)
    fake.port = server.sockets[0].getsockname()[1]
    try:
        yield fake
    finally:
        server.close()
        await server.wait_closed()


def settings(url: str) -> ApiClientSettings:
    return ApiClientSettings(api_url=url, api_key=SecretStr("svc-key"), api_timeout_s=5)


async def test_every_request_carries_the_services_key(api: Api) -> None:
    async with api_client(settings(f"http://127.0.0.1:{api.port}")) as client:
        response = await client.get("/api/servers")
    assert response.status_code == 204
    assert b"authorization: Bearer svc-key" in api.heads[0].lower().replace(b"bearer", b"Bearer")


async def test_an_api_that_is_down_is_named_in_the_error(unused_tcp_port: int) -> None:
    url = f"http://127.0.0.1:{unused_tcp_port}"
    async with api_client(settings(url)) as client:
        with pytest.raises(ApiUnavailable, match=rf"^the API at {url} did not answer GET /api/x"):
            await client.get("/api/x")
