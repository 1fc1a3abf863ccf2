"""Hetzner Cloud as the server provider: `GET /servers`, page by page, with the project's API
token (a secret reference, resolved at each listing so a rotated token is picked up).

The token is sent in the `Authorization` header only; every text that leaves this module is
scrubbed of it. A 401 or 403 (bad token), another 4xx, or an answer this code cannot read is
`ProviderRefused`; a 429, a 5xx or no connection is `ProviderUnavailable`, tried again by the next
run. A list that changed while it was read (an entry twice, or fewer than the total announced)
is refused for this run too: a server missing from it would be taken for gone."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import httpx
from shared.secrets import SecretUnavailable, scrub

from scheduler.ports import ProviderRefused, ProviderServer

PER_PAGE = 50  # Hetzner's largest page
MAX_PAGES = 1000
TIMEOUT_S = 30.0


class ProviderUnavailable(Exception):
    """The provider could not answer now (rate limit, its error, no connection)."""


def token_from(resolve: Callable[[str], str], ref: str | None) -> Callable[[], str]:
    """The token, resolved when asked; a missing setting or secret refuses, naming the
    reference only."""

    def token() -> str:
        if ref is None:
            raise ProviderRefused("HETZNER_TOKEN_REF is not set: no Hetzner Cloud token")
        try:
            return resolve(ref)
        except SecretUnavailable as exc:
            raise ProviderRefused(f"the Hetzner Cloud token: {exc}") from None

    return token


class HetznerProvider:
    def __init__(
        self,
        *,
        api_url: str,
        token: Callable[[], str],
        timeout_s: float = TIMEOUT_S,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._token = token
        self._timeout_s = timeout_s
        self._transport = transport

    async def servers(self) -> list[ProviderServer]:
        token = self._token()
        try:
            return await self._list(token)
        except (ProviderRefused, ProviderUnavailable) as exc:
            raise type(exc)(_clean(str(exc), token)) from None
        except httpx.HTTPError as exc:
            raise ProviderUnavailable(
                _clean(f"could not reach Hetzner Cloud: {type(exc).__name__}: {exc}", token)
            ) from None

    async def _list(self, token: str) -> list[ProviderServer]:
        found: dict[str, ProviderServer] = {}
        total: int | None = None
        page: int | None = 1
        async with httpx.AsyncClient(
            base_url=self._api_url,
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=self._timeout_s,
            transport=self._transport,
            follow_redirects=False,
        ) as client:
            for _ in range(MAX_PAGES):
                if page is None:
                    break
                body = await _get(client, {"page": page, "per_page": PER_PAGE})
                servers, pagination = _page(body)
                for server in servers:
                    if server.provider_id in found:
                        raise ProviderUnavailable(_CHANGED)
                    found[server.provider_id] = server
                total = _int(pagination.get("total_entries"), total)
                page = _next_page(pagination.get("next_page"), page)
            else:
                raise ProviderRefused(f"Hetzner Cloud's server list has over {MAX_PAGES} pages")
        if total is not None and total != len(found):
            raise ProviderUnavailable(_CHANGED)
        return list(found.values())


_CHANGED = "Hetzner Cloud's server list changed while it was read; read again next run"


async def _get(client: httpx.AsyncClient, params: dict[str, int]) -> dict[str, Any]:
    response = await client.get("/servers", params=params)
    what = f"GET /servers?page={params['page']}"
    if response.status_code == 429 or response.status_code >= 500:
        raise ProviderUnavailable(f"Hetzner Cloud answered {_status(response)} to {what}")
    if response.status_code != 200:
        raise ProviderRefused(f"Hetzner Cloud answered {_status(response)} to {what}")
    try:
        body = response.json()
    except ValueError:
        raise ProviderRefused(f"Hetzner Cloud answered {what} with something not JSON") from None
    if not isinstance(body, dict):
        raise ProviderRefused(f"Hetzner Cloud answered {what} with something not an object")
    return body


def _status(response: httpx.Response) -> str:
    """`401 (unauthorized: unable to authenticate)`: Hetzner's own error code and message."""
    try:
        error = response.json().get("error") or {}
        detail = f"{error.get('code', '')}: {error.get('message', '')}"[:300]
    except (ValueError, AttributeError):
        detail = response.reason_phrase
    return f"{response.status_code} ({detail})"


def _page(body: dict[str, Any]) -> tuple[list[ProviderServer], dict[str, Any]]:
    servers = body.get("servers")
    meta = body.get("meta")
    pagination = meta.get("pagination") if isinstance(meta, dict) else None
    if not isinstance(servers, list) or not isinstance(pagination, dict):
        raise ProviderRefused("Hetzner Cloud's server list lacks `servers` or its pagination")
    return [_server(item) for item in servers], pagination


def _server(item: Any) -> ProviderServer:
    """A listed server; one this code cannot read refuses the whole list (skipping it would
    make it look gone)."""
    try:
        server_id = item["id"]
        name = item["name"]
        status = item["status"]
        size = item.get("server_type") or {}
        ipv4 = (item.get("public_net") or {}).get("ipv4") or {}
        address = ipv4.get("ip")
    except (KeyError, TypeError, AttributeError):
        raise ProviderRefused("Hetzner Cloud listed a server this code cannot read") from None
    if not isinstance(server_id, int) or not isinstance(name, str) or not isinstance(status, str):
        raise ProviderRefused("Hetzner Cloud listed a server whose id, name or status is not valid")
    return ProviderServer(
        provider_id=str(server_id),
        name=name,
        address=address if isinstance(address, str) and address else None,
        running=status == "running",
        cpu_cores=_int(size.get("cores"), None),
        memory_mb=_mib(size.get("memory")),
        disk_gb=_int(size.get("disk"), None),
    )


def _int(value: Any, default: int | None) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _mib(gigabytes: Any) -> int | None:
    """Hetzner gives memory in GB (a float); the API keeps MiB."""
    if isinstance(gigabytes, bool) or not isinstance(gigabytes, int | float):
        return None
    if not math.isfinite(gigabytes) or not 0 < gigabytes < 2**20:
        return None
    return round(gigabytes * 1024)


def _next_page(value: Any, current: int) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or value <= current:
        raise ProviderRefused("Hetzner Cloud's pagination does not move forward")
    return value


def _clean(text: str, token: str) -> str:
    return scrub(text, [token]) or ""
