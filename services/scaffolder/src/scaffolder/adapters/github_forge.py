"""The Forge on GitHub, as a GitHub App installed on the organisation or user owning the repos.

The App's private key signs a short JWT (RS256, 9 minutes); with it the forge finds the App's
installation on the owner once, then mints installation tokens, each kept until a minute before
it expires. Repositories are created empty (`auto_init: false`); one that exists already is
fetched and returned with `created=False`. Git gets the token through `git_environment()`: an
`http.<url>.extraHeader` in `GIT_CONFIG_*` variables, so it is never in argv, a URL, a file or a
log line. Neither the token nor the JWT is ever logged.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from pydantic import SecretStr

from scaffolder.ports import ForgeRefused, ForgeUnavailable, Repository

__all__ = ["GitHubForge", "git_base_url"]

log = structlog.get_logger("scaffolder")

GITHUB_API = "https://api.github.com"
API_VERSION = "2022-11-28"
JWT_BACKDATE_S = 60  # GitHub's clock may be behind ours
JWT_LIFETIME_S = 540  # GitHub refuses more than 10 minutes
TOKEN_MARGIN_S = 60.0  # a token is replaced this long before it expires
MESSAGE_CHARS = 300

OwnerKind = Literal["org", "user"]
ClientSource = httpx.AsyncClient | Callable[[], httpx.AsyncClient] | None


@dataclass(frozen=True)
class _Token:
    value: str
    expires_at: float

    def __repr__(self) -> str:
        return f"_Token(expires_at={self.expires_at})"


def git_base_url(api_url: str) -> str:
    """Where git reaches the repositories of the GitHub whose REST API is at `api_url`."""
    parts = urlsplit(api_url)
    host = parts.netloc
    if host.lower() == "api.github.com":
        host = "github.com"
    elif parts.netloc.lower().startswith("api."):  # GitHub Enterprise Cloud with data residency
        host = parts.netloc[len("api.") :]
    return f"{parts.scheme}://{host}/"


class GitHubForge:
    """`Forge` on GitHub through a GitHub App's installation on `owner`."""

    def __init__(
        self,
        *,
        app_id: int | str,
        private_key: SecretStr,
        owner: str,
        owner_kind: OwnerKind = "org",
        api_url: str = GITHUB_API,
        client: ClientSource = None,
        private: bool = True,
        git_url: str | None = None,
        timeout_s: float = 30.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if owner_kind not in ("org", "user"):
            raise ValueError(f"owner_kind must be 'org' or 'user', not {owner_kind!r}")
        key = serialization.load_pem_private_key(
            private_key.get_secret_value().encode(), password=None
        )
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the GitHub App's private key must be an RSA key")
        self._key = key
        self.app_id = str(app_id)
        self.owner, self.owner_kind, self.private = owner, owner_kind, private
        self.api_url = api_url.rstrip("/")
        self.git_url = git_url or git_base_url(self.api_url)
        self._clock = clock
        self._timeout = httpx.Timeout(timeout_s)
        self._client_source = client
        self._client: httpx.AsyncClient | None = (
            client if isinstance(client, httpx.AsyncClient) else None
        )
        self._owns_client = not isinstance(client, httpx.AsyncClient)
        self._installation_id: int | None = None
        self._token: _Token | None = None
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        """Close the HTTP client if this forge made it."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    # -- the port -------------------------------------------------------------------------------

    async def ensure_repository(self, name: str, *, description: str) -> Repository:
        """The repository `name` under the owner, created empty if it does not exist."""
        owner = quote(self.owner, safe="")
        path = f"/orgs/{owner}/repos" if self.owner_kind == "org" else "/user/repos"
        payload = {
            "name": name,
            "description": description,
            "private": self.private,
            "auto_init": False,
        }
        response = await self._with_token("POST", path, json=payload)
        if response.status_code == 201:
            repository = _repository(response, created=True)
            log.info("github repository created", repository=repository.name, owner=self.owner)
            return repository
        if response.status_code == 422 and _already_exists(response):
            lookup = f"/repos/{owner}/{quote(name, safe='')}"
            found = await self._with_token("GET", lookup)
            if found.status_code == 200:
                repository = _repository(found, created=False)
                log.info("github repository exists", repository=repository.name, owner=self.owner)
                return repository
            raise _failure(found, f"GET {lookup} (after 'already exists')")
        raise _failure(response, f"POST {path}")

    async def git_environment(self) -> dict[str, str]:
        """`http.<GitHub's git URL>.extraHeader` with the installation token, as variables."""
        token = await self._installation_token()
        basic = base64.b64encode(f"x-access-token:{token.value}".encode()).decode()
        return {
            "GIT_CONFIG_COUNT": "1",
            "GIT_CONFIG_KEY_0": f"http.{self.git_url}.extraheader",
            "GIT_CONFIG_VALUE_0": f"Authorization: Basic {basic}",
            "GIT_TERMINAL_PROMPT": "0",
        }

    # -- credentials ----------------------------------------------------------------------------

    def _app_jwt(self) -> str:
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE_S, "exp": now + JWT_LIFETIME_S, "iss": self.app_id}
        return jwt.encode(claims, self._key, algorithm="RS256")

    async def _installation_token(self, *, renew: bool = False) -> _Token:
        async with self._lock:
            token = self._token
            if (
                not renew
                and token is not None
                and self._clock() < token.expires_at - TOKEN_MARGIN_S
            ):
                return token
            self._token = None
            installation_id = await self._installation()
            path = f"/app/installations/{installation_id}/access_tokens"
            response = await self._request("POST", path, self._app_jwt())
            if response.status_code != 201:
                if response.status_code == 404:  # uninstalled (or reinstalled): look it up again
                    self._installation_id = None
                raise _failure(response, f"POST {path}")
            body = _json(response)
            try:
                value = str(body["token"])
                expires_at = _timestamp(str(body["expires_at"]))
            except (KeyError, TypeError, ValueError) as error:
                raise ForgeUnavailable(f"GitHub answered POST {path} without a token") from error
            self._token = _Token(value, expires_at)
            log.info("github installation token minted", expires_at=body["expires_at"])
            return self._token

    async def _installation(self) -> int:
        if self._installation_id is None:
            kind = "orgs" if self.owner_kind == "org" else "users"
            path = f"/{kind}/{quote(self.owner, safe='')}/installation"
            response = await self._request("GET", path, self._app_jwt())
            if response.status_code == 404:
                raise ForgeRefused(f"the GitHub App {self.app_id} is not installed on {self.owner}")
            if response.status_code != 200:
                raise _failure(response, f"GET {path}")
            try:
                self._installation_id = int(_json(response)["id"])
            except (KeyError, TypeError, ValueError) as error:
                raise ForgeUnavailable(f"GitHub answered GET {path} without an id") from error
        return self._installation_id

    async def _with_token(
        self, method: str, path: str, *, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        """The call with the installation token; once more with a fresh one if it was refused
        (revoked, or expired early)."""
        token = await self._installation_token()
        response = await self._request(method, path, token.value, json=json)
        if response.status_code == 401:
            token = await self._installation_token(renew=True)
            response = await self._request(method, path, token.value, json=json)
        return response

    # -- HTTP -----------------------------------------------------------------------------------

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            source = self._client_source
            self._client = (
                source() if callable(source) else httpx.AsyncClient(timeout=self._timeout)
            )
        return self._client

    async def _request(
        self, method: str, path: str, credential: str, *, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {credential}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "codegen-orchestrator-scaffolder",
        }
        try:
            response = await self._http().request(
                method, f"{self.api_url}{path}", headers=headers, json=json, timeout=self._timeout
            )
        except httpx.HTTPError as error:
            raise ForgeUnavailable(
                f"GitHub did not answer {method} {path}: {type(error).__name__}"
            ) from error
        if _retryable(response):
            raise _unavailable(response, f"{method} {path}")
        return response


def _retryable(response: httpx.Response) -> bool:
    if response.status_code >= 500 or response.status_code == 429:
        return True
    # GitHub's rate limits answer 403 with these headers.
    return response.status_code == 403 and (
        response.headers.get("x-ratelimit-remaining") == "0" or "retry-after" in response.headers
    )


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:MESSAGE_CHARS]
    if not isinstance(body, dict):
        return ""
    parts = [str(body.get("message", ""))]
    errors = body.get("errors")
    if isinstance(errors, list):
        parts += [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
    return "; ".join(p for p in parts if p)[:MESSAGE_CHARS]


def _unavailable(response: httpx.Response, call: str) -> ForgeUnavailable:
    retry = response.headers.get("retry-after")
    after = f" (retry after {retry} s)" if retry else ""
    return ForgeUnavailable(
        f"GitHub answered {call} with {response.status_code}{after}: {_message(response)}"
    )


def _failure(response: httpx.Response, call: str) -> ForgeUnavailable | ForgeRefused:
    if _retryable(response):
        return _unavailable(response, call)
    if 400 <= response.status_code < 500:
        return ForgeRefused(
            f"GitHub refused {call} with {response.status_code}: {_message(response)}"
        )
    return ForgeUnavailable(f"GitHub answered {call} with {response.status_code} unexpectedly")


def _already_exists(response: httpx.Response) -> bool:
    try:
        body = response.json()
    except ValueError:
        return False
    errors = body.get("errors") if isinstance(body, dict) else None
    return isinstance(errors, list) and any(
        isinstance(e, dict) and "already exists" in str(e.get("message", "")) for e in errors
    )


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as error:
        raise ForgeUnavailable(f"GitHub answered {response.status_code} without JSON") from error
    if not isinstance(body, dict):
        raise ForgeUnavailable(f"GitHub answered {response.status_code} with no object")
    return body


def _repository(response: httpx.Response, *, created: bool) -> Repository:
    body = _json(response)
    name, clone_url = body.get("name"), body.get("clone_url")
    if not isinstance(name, str) or not isinstance(clone_url, str):
        raise ForgeUnavailable("GitHub answered a repository without a name or a clone_url")
    if urlsplit(clone_url).password or "@" in urlsplit(clone_url).netloc:
        raise ForgeRefused("GitHub answered a clone_url carrying credentials")
    return Repository(name=name, clone_url=clone_url, created=created)


def _timestamp(text: str) -> float:
    """Seconds since the epoch of GitHub's `2016-07-11T22:14:10Z`."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
