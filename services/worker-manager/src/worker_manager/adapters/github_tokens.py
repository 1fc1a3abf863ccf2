"""Forge tokens from a GitHub App installed on the owner of the projects' repositories.

For each developer worker, an installation token limited to its one repository with
`contents: write` (`POST /app/installations/{id}/access_tokens` with `repositories`), signed for
with a short JWT of the App's key; GitHub expires it within the hour. It is revoked
(`DELETE /installation/token`) when the worker's remains are removed. Tokens are held in this
process only: one minted before a restart, or by another replica, expires on its own. Neither a
token nor the JWT is ever logged or put in an error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

log = structlog.get_logger("worker_manager")

API_VERSION = "2022-11-28"
JWT_BACKDATE_S = 60  # GitHub's clock may be behind ours
JWT_LIFETIME_S = 540  # GitHub refuses more than 10 minutes
PERMISSIONS = {"contents": "write"}
MESSAGE_CHARS = 300


class ForgeTokenRefused(Exception):
    """GitHub did not give the token (its status and message; never a credential)."""


def git_base_url(api_url: str) -> str:
    """Where git reaches the repositories of the GitHub whose REST API is at `api_url`."""
    parts = urlsplit(api_url)
    host = parts.netloc
    if host.lower() == "api.github.com":
        host = "github.com"
    elif host.lower().startswith("api."):
        host = host[len("api.") :]
    return f"{parts.scheme}://{host}/"


class GitHubAppTokens:
    """`ForgeTokens` through a GitHub App's installation on `owner`."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        app_id: str,
        private_key: str,
        owner: str,
        owner_kind: Literal["org", "user"] = "org",
        api_url: str = "https://api.github.com",
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the GitHub App's private key must be an RSA key")
        self._key = key
        self._client = client
        self._app_id, self._owner, self._owner_kind = app_id, owner, owner_kind
        self._api_url = api_url.rstrip("/")
        self._git_url = git_base_url(self._api_url)
        self._clock = clock
        self._installation_id: int | None = None
        self._tokens: dict[str, str] = {}

    async def mint(self, worker_id: str, repository: str) -> str | None:
        name = self._repository_name(repository)
        if name is None:
            log.info("the repository is not the GitHub owner's: no token", worker_id=worker_id)
            return None
        installation_id = await self._installation()
        path = f"/app/installations/{installation_id}/access_tokens"
        response = await self._request(
            "POST",
            path,
            self._app_jwt(),
            json={"repositories": [name], "permissions": PERMISSIONS},
        )
        if response.status_code != 201:
            raise ForgeTokenRefused(f"GitHub answered POST {path} with {_status(response)}")
        token = _body(response).get("token")
        if not isinstance(token, str) or not token:
            raise ForgeTokenRefused(f"GitHub answered POST {path} without a token")
        self._tokens[worker_id] = token
        log.info("github token minted for one repository", worker_id=worker_id, repository=name)
        return token

    async def revoke(self, worker_id: str) -> None:
        token = self._tokens.pop(worker_id, None)
        if token is None:
            return
        try:
            response = await self._request("DELETE", "/installation/token", token)
        except httpx.HTTPError as exc:
            log.warning(
                "could not revoke a worker's github token; it expires within the hour",
                worker_id=worker_id,
                error=type(exc).__name__,
            )
            return
        # 401: expired or revoked already.
        if response.status_code not in (204, 401):
            log.warning(
                "github did not revoke a worker's token; it expires within the hour",
                worker_id=worker_id,
                status=response.status_code,
            )
            return
        log.info("github token revoked", worker_id=worker_id)

    def _repository_name(self, repository: str) -> str | None:
        """The repository's name when `repository` is a clone URL of the owner's on this GitHub
        (`<git url><owner>/<name>[.git]`), else None."""
        base = self._git_url
        if not repository.lower().startswith(base.lower()):
            return None
        owner, sep, name = repository[len(base) :].partition("/")
        name = name.removesuffix("/").removesuffix(".git")
        if not sep or owner.lower() != self._owner.lower() or not name or "/" in name:
            return None
        return name

    async def _installation(self) -> int:
        if self._installation_id is None:
            kind = "orgs" if self._owner_kind == "org" else "users"
            path = f"/{kind}/{quote(self._owner, safe='')}/installation"
            response = await self._request("GET", path, self._app_jwt())
            if response.status_code != 200:
                raise ForgeTokenRefused(f"GitHub answered GET {path} with {_status(response)}")
            installation_id = _body(response).get("id")
            if not isinstance(installation_id, int):
                raise ForgeTokenRefused(f"GitHub answered GET {path} without an id")
            self._installation_id = installation_id
        return self._installation_id

    def _app_jwt(self) -> str:
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE_S, "exp": now + JWT_LIFETIME_S, "iss": self._app_id}
        return jwt.encode(claims, self._key, algorithm="RS256")

    async def _request(
        self, method: str, path: str, credential: str, *, json: dict[str, Any] | None = None
    ) -> httpx.Response:
        headers = {
            "Accept": "application/vnd.github+json",
            "Authorization": f"Bearer {credential}",
            "X-GitHub-Api-Version": API_VERSION,
            "User-Agent": "codegen-orchestrator-worker-manager",
        }
        return await self._client.request(
            method, f"{self._api_url}{path}", headers=headers, json=json
        )


def _body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _status(response: httpx.Response) -> str:
    message = _body(response).get("message")
    return (
        f"{response.status_code}: {str(message)[:MESSAGE_CHARS]}"
        if message
        else str(response.status_code)
    )
