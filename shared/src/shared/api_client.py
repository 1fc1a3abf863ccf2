"""The API client every service uses: its key, time limits, a few retries of a connection that
could not be made, and an error that says the API is down rather than a socket's complaint."""

from __future__ import annotations

from typing import Any

import httpx

from shared.settings import ApiClientSettings

# Connection attempts retried (httpx retries only failures to connect, never a sent request).
CONNECT_RETRIES = 3


class ApiUnavailable(httpx.TransportError):
    """The API could not be reached, or did not answer in time."""


class ApiClient(httpx.AsyncClient):
    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            return await super().send(request, **kwargs)
        except (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError) as exc:
            raise ApiUnavailable(
                f"the API at {self.base_url} did not answer {request.method} "
                f"{request.url.path[:100]}: {type(exc).__name__}: {exc}"[:500],
                request=request,
            ) from exc


def api_client(settings: ApiClientSettings) -> ApiClient:
    """A client of the API at `settings.api_url`, authenticated with `settings.api_key`."""
    return ApiClient(
        base_url=settings.api_url,
        headers={"Authorization": f"Bearer {settings.api_key.get_secret_value()}"},
        timeout=httpx.Timeout(settings.api_timeout_s, connect=min(settings.api_timeout_s, 5.0)),
        transport=httpx.AsyncHTTPTransport(retries=CONNECT_RETRIES),
    )


async def request_or_refuse(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    *,
    refused: type[Exception],
    allow: tuple[int, ...] = (),
    **kwargs: Any,
) -> httpx.Response:
    """A request whose refusal is final: a 4xx (unless in `allow`), or a request that cannot even
    be made, raises `refused` with what the API said; a 5xx (`httpx.HTTPStatusError`) or a
    connection error propagates as it is, to be tried again."""
    try:
        response = await client.request(method, path, **kwargs)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
        raise refused(f"{method} {path[:100]}: {exc}"[:500]) from None
    if response.status_code in allow:
        return response
    if 400 <= response.status_code < 500:
        raise refused(
            f"the API answered {response.status_code} to {method} {path[:100]}: "
            f"{response.text[:300]}"
        )
    response.raise_for_status()
    return response
