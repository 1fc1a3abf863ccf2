"""`Forge` on GitHub, through the GitHub App that scaffolder creates repositories with.

One call per repository, with the App's own JWT (RS256, a few minutes, signed here):
`GET /repos/{owner}/{repo}/installation`. 200: the repository is there and the App is installed
on it; 404: it is gone, or the App can no longer see it (uninstalled, or the repository taken out
of the installation's selection). Both mean what matters here, that workers and deploys can no
longer reach it. This is chosen over an installation token and `GET /repos/{owner}/{repo}`
because it needs no token at all: no installation lookup, no token minted (one that could read
every repository of the owner for an hour, held by a service that only asks whether they
exist), none to keep or revoke; and it asks the App's view, the one every other service works
with.

A URL on another host or under another owner is "not ours to check" (None), and so is anything
that is not `<GitHub's git URL>/<owner>/<repo>[.git]`. GitHub not answering, a 5xx, a rate limit,
or refusing the App's JWT (a wrong key or app id: logged) is "cannot tell" (None), never gone.
Neither the key nor a JWT is ever logged or put in an error.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from urllib.parse import quote, urlsplit

import httpx
import jwt
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

log = structlog.get_logger("scheduler")

GITHUB_API = "https://api.github.com"
API_VERSION = "2022-11-28"
JWT_BACKDATE_S = 60  # GitHub's clock may be behind ours
JWT_LIFETIME_S = 300  # GitHub refuses more than 10 minutes
MESSAGE_CHARS = 200
REPO_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def git_base_url(api_url: str) -> str:
    """Where git reaches the repositories of the GitHub whose REST API is at `api_url` (as
    scaffolder records them)."""
    parts = urlsplit(api_url)
    host = parts.netloc
    if host.lower() == "api.github.com":
        host = "github.com"
    elif host.lower().startswith("api."):  # GitHub Enterprise Cloud with data residency
        host = host[len("api.") :]
    return f"{parts.scheme}://{host}/"


class GitHubForge:
    """Whether a repository under `owner` is there, as the GitHub App `app_id` sees it."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        app_id: int | str,
        private_key: str,
        owner: str,
        api_url: str = GITHUB_API,
        git_url: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        key = serialization.load_pem_private_key(private_key.encode(), password=None)
        if not isinstance(key, RSAPrivateKey):
            raise ValueError("the GitHub App's private key must be an RSA key")
        self._key = key
        self._client = client
        self.app_id = str(app_id)
        self.owner = owner
        self.api_url = api_url.rstrip("/")
        git = urlsplit(git_url or git_base_url(self.api_url))
        self._git_scheme, self._git_host = git.scheme.lower(), git.netloc.lower()
        self._clock = clock

    def __repr__(self) -> str:
        return f"GitHubForge(app_id={self.app_id!r}, owner={self.owner!r})"

    async def aclose(self) -> None:
        await self._client.aclose()

    async def repository_exists(self, repository: str) -> bool | None:
        name = self.repository_name(repository)
        if name is None:
            return None
        path = f"/repos/{quote(self.owner, safe='')}/{quote(name, safe='')}/installation"
        try:
            response = await self._client.get(
                f"{self.api_url}{path}",
                headers={
                    "Accept": "application/vnd.github+json",
                    "Authorization": f"Bearer {self._app_jwt()}",
                    "X-GitHub-Api-Version": API_VERSION,
                    "User-Agent": "codegen-orchestrator-scheduler",
                },
                follow_redirects=True,  # a renamed repository answers 301 to where it is now
            )
        except httpx.HTTPError as exc:
            log.warning("github did not answer", call=f"GET {path}", error=type(exc).__name__)
            return None
        if response.status_code == 200:
            return True
        if response.status_code == 404:
            return False
        log.warning(
            "github could not tell whether a repository is there",
            call=f"GET {path}",
            status=response.status_code,
            message=_message(response),
        )
        return None

    def repository_name(self, repository: str) -> str | None:
        """The repository's name if `repository` is one of the owner's on this GitHub, as
        scaffolder records it (`<git URL>/<owner>/<name>.git`); None for anything else."""
        try:
            parts = urlsplit(repository)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            return None
        if (
            not port_ok
            or parts.scheme.lower() != self._git_scheme
            or parts.netloc.lower() != self._git_host
            or parts.username is not None
            or parts.query
            or parts.fragment
        ):
            return None
        segments = parts.path.split("/")
        if len(segments) != 3 or segments[0] or segments[1].lower() != self.owner.lower():
            return None
        name = segments[2].removesuffix(".git")
        if not REPO_NAME.fullmatch(name) or name in {".", ".."}:
            return None
        return name

    def _app_jwt(self) -> str:
        now = int(self._clock())
        claims = {"iat": now - JWT_BACKDATE_S, "exp": now + JWT_LIFETIME_S, "iss": self.app_id}
        return jwt.encode(claims, self._key, algorithm="RS256")


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    return str(body.get("message", ""))[:MESSAGE_CHARS] if isinstance(body, dict) else ""
