"""A fake GitHub on loopback: the REST calls a GitHub App makes, and git's smart HTTP.

One App (an id and an RSA key pair generated here; give the client `private_key_pem`) is
installed on one owner, an organisation or a user. The server speaks, on 127.0.0.1 and a free
port, what the real one does for those calls:

- `GET /app`, `GET /orgs/{org}/installation`, `GET /users/{user}/installation`,
  `GET /repos/{owner}/{repo}/installation` (404 when the repository is not there or not the
  installation's owner's, as GitHub answers when the App cannot see it) and
  `POST /app/installations/{id}/access_tokens` with `Authorization: Bearer <JWT>`: the JWT must
  be RS256 signed with the App's key, `iss` the App's id, `iat` not in the future (60 s of
  drift allowed), `exp` in the future and at most 10 minutes ahead. The token endpoint answers
  a fresh installation token and its `expires_at`; given `repositories` (names under the owner)
  and/or `permissions`, the token is restricted to them (422, as GitHub answers, when one is not
  there or a permission is beyond the installation's).
- A token restricted to repositories reaches only those: another's `GET /repos/...` and git
  answer 404 (GitHub hides what a token cannot see); with `contents: read`, a push answers 403.
- With an unexpired installation token (`Authorization: token <t>` or `Bearer <t>`):
  `POST /orgs/{org}/repos` and `POST /user/repos` create an empty bare repository (422 in
  GitHub's shape when the name is taken, case-insensitively), `GET /repos/{owner}/{repo}`
  (404 when missing), `DELETE /installation/token` (revokes the token used).
- Git at `/<owner>/<repo>.git/...` through `git http-backend` run as CGI, for an installation
  token given as HTTP Basic `x-access-token:<token>` or as a `Bearer`/`token` header; 401 with
  `WWW-Authenticate: Basic realm="GitHub"` otherwise. The backend's stderr goes to
  `root/http-backend.log`.

For assertions: `tokens` (every token issued, with the repositories and permissions it was
restricted to), `installation_token(repositories=..., permissions=...)` to make one without a
request, `repositories` (full name → bare repository), `delete_repository(full_name)` (as a person
deleting it on GitHub would),
`requests` (every request line, its headers, the REST bodies and the status answered), and
`fail_next(n, status=...)` to make the next `n` REST calls fail on purpose. The clock is
injectable (`clock=`), so a test can age tokens and JWTs without waiting.

    with FakeGitHub(tmp_path / "github", owner="acme") as github:
        forge = GitHubForge(api_url=github.api_url, app_id=github.app_id,
                            private_key=SecretStr(github.private_key_pem), owner="acme")
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import functools
import io
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import string
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, cast
from urllib.parse import unquote, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.testing.git import work_tree

__all__ = ["FakeGitHub", "IssuedToken", "RecordedRequest"]

OwnerKind = Literal["org", "user"]
DOCS = "https://docs.github.com/rest"
# GitHub's rule for repository names (it rewrites other characters; this fake refuses them).
REPO_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
JWT_MAX_LIFETIME_S = 600
JWT_DRIFT_S = 60
GIT_PATH = re.compile(r"/(?P<owner>[^/]+)/(?P<repo>[^/]+)\.git(?P<rest>/.*)?")
STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class IssuedToken:
    """An installation token the fake handed out."""

    token: str
    installation_id: int
    expires_at: float  # seconds since the epoch, on the fake's clock
    repositories: tuple[str, ...] | None = None  # names it is restricted to; None: all
    permissions: tuple[tuple[str, str], ...] | None = None  # what it was asked for; None: all

    def __repr__(self) -> str:  # a failing assertion prints records: keep the token out
        return (
            f"IssuedToken(installation_id={self.installation_id}, expires_at={self.expires_at}, "
            f"repositories={self.repositories}, permissions={self.permissions})"
        )

    def may_read(self, repository: str) -> bool:
        return self.repositories is None or repository.lower() in {
            name.lower() for name in self.repositories
        }

    def may_push(self, repository: str) -> bool:
        contents = dict(self.permissions or (("contents", "write"),)).get("contents")
        return self.may_read(repository) and contents == "write"


@dataclass
class RecordedRequest:
    """One request as received: its request line, headers, REST body and the status answered."""

    method: str
    target: str  # path and query, as sent
    request_line: str  # e.g. "GET /repos/acme/svc HTTP/1.1"
    headers: list[tuple[str, str]]
    body: bytes | None = None  # REST requests only; git's packs are not kept
    status: int | None = None
    git: bool = False

    @property
    def path(self) -> str:
        return urlsplit(self.target).path

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


@dataclass
class _Failure:
    status: int
    message: str
    headers: dict[str, str]


@dataclass
class _Repo:
    id: int
    owner: str
    name: str
    path: Path
    description: str | None
    private: bool
    created_at: float
    default_branch: str = "main"


@dataclass
class _Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class FakeGitHub:
    """GitHub's App and repository REST calls and git smart HTTP, on 127.0.0.1."""

    def __init__(
        self,
        root: Path | None = None,
        *,
        owner: str = "acme",
        owner_kind: OwnerKind = "org",
        app_id: int = 424242,
        installation_id: int = 7001,
        token_ttl_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="fake-github-")) if root is None else root
        self.root.mkdir(parents=True, exist_ok=True)
        self.owner, self.owner_kind = owner, owner_kind
        self.app_id, self.installation_id = app_id, installation_id
        self.token_ttl_s, self.clock = token_ttl_s, clock
        key = _app_key()
        self.private_key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self._public_key = key.public_key()
        self._lock = threading.Lock()
        self._tokens: dict[str, IssuedToken] = {}
        self._issued: list[IssuedToken] = []
        self._repos: dict[str, _Repo] = {}  # by lower-cased full name
        self._requests: list[RecordedRequest] = []
        self._failures: list[_Failure] = []
        self._ids = itertools.count(100_001)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: set[socket.socket] = set()

    # -- lifetime -------------------------------------------------------------------------------

    def start(self) -> FakeGitHub:
        if self._server is not None:
            return self
        server = _Server(("127.0.0.1", 0), _Handler)
        server.fake = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.1}, name="fake-github"
        )
        self._thread.daemon = True
        self._thread.start()
        return self

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            with self._lock:
                connections = list(self._connections)
            for connection in connections:  # idle keep-alive connections end now
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- addresses ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeGitHub is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """`http://127.0.0.1:<port>`: the REST API's base and git's host."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url

    def clone_url(self, full_name: str) -> str:
        return f"{self.url}/{full_name}.git"

    # -- records and switches -------------------------------------------------------------------

    @property
    def tokens(self) -> list[IssuedToken]:
        """Every installation token issued, oldest first."""
        with self._lock:
            return list(self._issued)

    @property
    def repositories(self) -> dict[str, Path]:
        """Full name (`owner/name`) → the bare repository on disk."""
        with self._lock:
            return {f"{r.owner}/{r.name}": r.path for r in self._repos.values()}

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, REST and git, oldest first."""
        with self._lock:
            return list(self._requests)

    def seen(self, text: str) -> list[RecordedRequest]:
        """The requests whose request line or a header value contains `text`."""
        return [
            r
            for r in self.requests
            if text in r.request_line or any(text in value for _, value in r.headers)
        ]

    def fail_next(
        self,
        n: int = 1,
        *,
        status: int = 503,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next `n` REST calls (not git's) with `status` and GitHub's error body."""
        failure = _Failure(status, message or STATUS_TEXT.get(status, "Error"), headers or {})
        with self._lock:
            self._failures.extend([failure] * n)

    def expire_tokens(self) -> None:
        """Make every token issued so far expired (as if its hour had passed)."""
        now = self.clock()
        with self._lock:
            for token, issued in self._tokens.items():
                self._tokens[token] = dataclasses.replace(issued, expires_at=now - 1)

    def create_repository(
        self,
        name: str,
        *,
        owner: str | None = None,
        description: str | None = None,
        private: bool = True,
        files: dict[str, str] | None = None,
    ) -> Path:
        """Make a repository directly (no request); with `files`, one commit of them on main."""
        reply = self._create_repo(owner or self.owner, name, description, private)
        if reply.status != 201:
            raise ValueError(f"cannot create {name}: {reply.body}")
        path = self.repositories[f"{owner or self.owner}/{reply.body['name']}"]
        if files:
            seed = work_tree(Path(tempfile.mkdtemp(prefix="fake-github-seed-")) / "seed", files)
            try:
                subprocess.run(
                    ["git", "-C", str(seed), "push", "-q", str(path), "HEAD:refs/heads/main"],
                    check=True,
                    capture_output=True,
                )
            finally:
                shutil.rmtree(seed.parent, ignore_errors=True)
        return path

    def delete_repository(self, full_name: str) -> None:
        """Delete a repository directly (no request), as a person would on GitHub's site."""
        owner, _, name = full_name.partition("/")
        with self._lock:
            repo = self._repos.pop(f"{owner}/{name}".lower(), None)
        if repo is None:
            raise ValueError(f"no repository {full_name}")
        shutil.rmtree(repo.path, ignore_errors=True)

    # -- state, called from the handler threads -------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _take_failure(self) -> _Failure | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def _check_jwt(self, token: str) -> str | None:
        """None when `token` is a JWT this App signed and still valid; else why not."""
        try:
            claims = jwt.decode(
                token,
                self._public_key,
                algorithms=["RS256"],
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["iat", "exp", "iss"],
                },
            )
        except jwt.InvalidSignatureError:
            return "A JSON web token could not be decoded (signature)"
        except jwt.PyJWTError as error:
            return f"A JSON web token could not be decoded ({type(error).__name__})"
        now = self.clock()
        iat, exp, iss = claims["iat"], claims["exp"], claims["iss"]
        if not isinstance(iat, int | float) or not isinstance(exp, int | float):
            return "'Issued at' and 'Expiration time' claims must be numbers"
        if str(iss) != str(self.app_id):
            return "'Issuer' claim ('iss') must be the App's id"
        if iat > now + JWT_DRIFT_S:
            return "'Issued at' claim ('iat') must be an Integer representing a time in the past"
        if exp <= now:
            return "'Expiration time' claim ('exp') must be a numeric value in the future"
        if exp > now + JWT_MAX_LIFETIME_S or exp - iat > JWT_MAX_LIFETIME_S + JWT_DRIFT_S:
            return "'Expiration time' claim ('exp') is too far in the future"
        return None

    def _check_token(self, token: str) -> IssuedToken | None:
        with self._lock:
            issued = self._tokens.get(token)
        if issued is None or issued.expires_at <= self.clock():
            return None
        return issued

    def installation_token(
        self,
        *,
        repositories: tuple[str, ...] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> str:
        """An installation token made directly (no request), restricted as the endpoint would."""
        restricted = tuple(sorted(permissions.items())) if permissions is not None else None
        return self._issue_token(self.installation_id, repositories, restricted).token

    def _issue_token(
        self,
        installation_id: int,
        repositories: tuple[str, ...] | None = None,
        permissions: tuple[tuple[str, str], ...] | None = None,
    ) -> IssuedToken:
        alphabet = string.ascii_letters + string.digits
        token = "ghs_" + "".join(secrets.choice(alphabet) for _ in range(36))
        expires_at = float(int(self.clock() + self.token_ttl_s))
        issued = IssuedToken(token, installation_id, expires_at, repositories, permissions)
        with self._lock:
            self._tokens[token] = issued
            self._issued.append(issued)
        return issued

    def _revoke(self, token: str) -> None:
        with self._lock:
            self._tokens.pop(token, None)

    def _find_repo(self, owner: str, name: str) -> _Repo | None:
        with self._lock:
            return self._repos.get(f"{owner}/{name}".lower())

    def _create_repo(
        self, owner: str, name: str, description: str | None, private: bool, auto_init: bool = False
    ) -> _Reply:
        if not REPO_NAME.fullmatch(name) or name in {".", ".."} or name.endswith(".git"):
            return _validation_failed("name", "invalid", f"name {name!r} is not a valid name")
        path = self.root / owner / f"{name}.git"
        with self._lock:
            if f"{owner}/{name}".lower() in self._repos:
                return _validation_failed("name", "custom", "name already exists on this account")
            repo = _Repo(next(self._ids), owner, name, path, description, private, self.clock())
            self._repos[f"{owner}/{name}".lower()] = repo
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["git", "init", "-q", "--bare", "-b", repo.default_branch, str(path)],
            check=True,
            capture_output=True,
        )
        if auto_init:
            _initial_commit(path, name, repo.default_branch)
        return _Reply(201, self._repo_json(repo))

    def _repo_json(self, repo: _Repo) -> dict[str, Any]:
        full_name = f"{repo.owner}/{repo.name}"
        owner_type = "Organization" if self.owner_kind == "org" else "User"
        created = datetime.fromtimestamp(repo.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {
            "id": repo.id,
            "node_id": f"R_fake{repo.id}",
            "name": repo.name,
            "full_name": full_name,
            "owner": {"login": repo.owner, "type": owner_type},
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "description": repo.description,
            "html_url": f"{self.url}/{full_name}",
            "url": f"{self.url}/repos/{full_name}",
            "clone_url": self.clone_url(full_name),
            "default_branch": repo.default_branch,
            "created_at": created,
        }

    def _installation_json(self) -> dict[str, Any]:
        return {
            "id": self.installation_id,
            "app_id": self.app_id,
            "account": {
                "login": self.owner,
                "type": "Organization" if self.owner_kind == "org" else "User",
            },
            "target_type": "Organization" if self.owner_kind == "org" else "User",
            "repository_selection": "all",
            "permissions": {"administration": "write", "contents": "write", "metadata": "read"},
        }

    # -- REST -----------------------------------------------------------------------------------

    def _rest(self, method: str, path: str, authorization: str | None, body: bytes) -> _Reply:
        failure = self._take_failure()
        if failure is not None:
            reply = _error(failure.status, failure.message)
            reply.headers.update(failure.headers)
            return reply
        scheme, credential = _split_authorization(authorization)
        for pattern, route_method, kind, handler in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if method != route_method:
                continue
            if kind == "jwt":
                if scheme != "bearer" or not credential:
                    return _error(401, "A JSON web token could not be decoded")
                why = self._check_jwt(credential)
                if why is not None:
                    return _error(401, why)
            else:
                if scheme not in {"bearer", "token"} or self._check_token(credential) is None:
                    return _error(401, "Bad credentials")
            try:
                payload = json.loads(body) if body else {}
            except ValueError:
                return _error(400, "Problems parsing JSON")
            if not isinstance(payload, dict):
                return _error(400, "Problems parsing JSON")
            return handler(self, match.groupdict(), payload, credential)
        return _error(404, "Not Found")

    def _get_app(self, _: dict[str, str], __: dict[str, Any], ___: str) -> _Reply:
        return _Reply(200, {"id": self.app_id, "slug": "fake-app", "name": "fake app"})

    def _get_org_installation(self, args: dict[str, str], _: dict[str, Any], __: str) -> _Reply:
        if args["owner"].lower() != self.owner.lower() or self.owner_kind != "org":
            return _error(404, "Not Found")
        return _Reply(200, self._installation_json())

    def _get_user_installation(self, args: dict[str, str], _: dict[str, Any], __: str) -> _Reply:
        # Organisations are accounts too: GitHub finds theirs here as well.
        if args["owner"].lower() != self.owner.lower():
            return _error(404, "Not Found")
        return _Reply(200, self._installation_json())

    def _get_repo_installation(self, args: dict[str, str], _: dict[str, Any], __: str) -> _Reply:
        repo = self._find_repo(args["owner"], args["repo"])
        if repo is None or repo.owner.lower() != self.owner.lower():
            return _error(404, "Not Found")
        return _Reply(200, self._installation_json())

    def _post_token(self, args: dict[str, str], payload: dict[str, Any], __: str) -> _Reply:
        if int(args["installation_id"]) != self.installation_id:
            return _error(404, "Not Found")
        granted: dict[str, str] = self._installation_json()["permissions"]
        names, asked = payload.get("repositories"), payload.get("permissions")
        repositories: tuple[str, ...] | None = None
        if names is not None:
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                return _error(422, "repositories must be a list of names")
            if any(self._find_repo(self.owner, name) is None for name in names):
                return _error(
                    422,
                    "There is at least one repository that does not exist or is not accessible "
                    "to the parent installation.",
                )
            repositories = tuple(names)
        permissions: tuple[tuple[str, str], ...] | None = None
        if asked is not None:
            levels = {"read": 1, "write": 2, "admin": 3}
            if not isinstance(asked, dict) or any(
                levels.get(str(level), 9) > levels.get(granted.get(str(name), ""), 0)
                for name, level in asked.items()
            ):
                return _error(
                    422, "The permissions requested are not granted to this installation."
                )
            permissions = tuple(sorted((str(k), str(v)) for k, v in asked.items()))
        issued = self._issue_token(self.installation_id, repositories, permissions)
        expires = datetime.fromtimestamp(issued.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body: dict[str, Any] = {
            "token": issued.token,
            "expires_at": expires,
            "permissions": dict(permissions) if permissions is not None else granted,
            "repository_selection": "all" if repositories is None else "selected",
        }
        if repositories is not None:
            body["repositories"] = [
                self._repo_json(repo)
                for name in repositories
                if (repo := self._find_repo(self.owner, name)) is not None
            ]
        return _Reply(201, body)

    def _delete_token(self, _: dict[str, str], __: dict[str, Any], token: str) -> _Reply:
        self._revoke(token)
        return _Reply(204)

    def _post_repos(self, args: dict[str, str], payload: dict[str, Any], _: str) -> _Reply:
        owner = args.get("owner")
        if owner is None:  # POST /user/repos: the user the installation is on
            if self.owner_kind != "user":
                return _error(403, "Resource not accessible by integration")
            owner = self.owner
        elif owner.lower() != self.owner.lower() or self.owner_kind != "org":
            return _error(404, "Not Found")
        name = payload.get("name")
        if not isinstance(name, str):
            return _validation_failed("name", "missing_field", "name is missing")
        description = payload.get("description")
        private = payload.get("private", False)
        return self._create_repo(
            self.owner,
            name,
            description if isinstance(description, str) else None,
            bool(private),
            auto_init=bool(payload.get("auto_init", False)),
        )

    def _get_repo(self, args: dict[str, str], _: dict[str, Any], token: str) -> _Reply:
        repo = self._find_repo(args["owner"], args["repo"])
        issued = self._check_token(token)
        if repo is None or issued is None or not issued.may_read(repo.name):
            return _error(404, "Not Found")
        return _Reply(200, self._repo_json(repo))

    # -- git ------------------------------------------------------------------------------------

    def _git_token(self, authorization: str | None) -> IssuedToken | None:
        """The valid installation token a git request carries, if any."""
        scheme, credential = _split_authorization(authorization)
        if scheme == "basic":
            try:
                user, _, password = base64.b64decode(credential).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return None
            return self._check_token(password) if user == "x-access-token" else None
        return self._check_token(credential) if scheme in {"bearer", "token"} else None


_Route = tuple[
    "re.Pattern[str]", str, str, Callable[[FakeGitHub, dict[str, str], dict[str, Any], str], _Reply]
]
_ROUTES: list[_Route] = [
    (re.compile(r"/app"), "GET", "jwt", FakeGitHub._get_app),
    (
        re.compile(r"/orgs/(?P<owner>[^/]+)/installation"),
        "GET",
        "jwt",
        FakeGitHub._get_org_installation,
    ),
    (
        re.compile(r"/users/(?P<owner>[^/]+)/installation"),
        "GET",
        "jwt",
        FakeGitHub._get_user_installation,
    ),
    (
        re.compile(r"/app/installations/(?P<installation_id>[0-9]{1,18})/access_tokens"),
        "POST",
        "jwt",
        FakeGitHub._post_token,
    ),
    (
        re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)/installation"),
        "GET",
        "jwt",
        FakeGitHub._get_repo_installation,
    ),
    (re.compile(r"/installation/token"), "DELETE", "token", FakeGitHub._delete_token),
    (re.compile(r"/orgs/(?P<owner>[^/]+)/repos"), "POST", "token", FakeGitHub._post_repos),
    (re.compile(r"/user/repos"), "POST", "token", FakeGitHub._post_repos),
    (re.compile(r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"), "GET", "token", FakeGitHub._get_repo),
]


@functools.cache
def _app_key() -> rsa.RSAPrivateKey:
    """The Apps' key, made once per process: a 2048-bit key takes up to a second to make."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _error(status: int, message: str) -> _Reply:
    return _Reply(status, {"message": message, "documentation_url": DOCS, "status": str(status)})


def _validation_failed(field_name: str, code: str, message: str) -> _Reply:
    return _Reply(
        422,
        {
            "message": "Repository creation failed.",
            "errors": [
                {"resource": "Repository", "code": code, "field": field_name, "message": message}
            ],
            "documentation_url": f"{DOCS}/repos/repos#create-an-organization-repository",
            "status": "422",
        },
    )


def _split_authorization(header: str | None) -> tuple[str, str]:
    scheme, _, credential = (header or "").strip().partition(" ")
    return scheme.lower(), credential.strip()


def _initial_commit(bare: Path, name: str, branch: str) -> None:
    """A README on `branch`, as GitHub's `auto_init` makes."""

    def run(*args: str, stdin: str | None = None) -> str:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "GIT_AUTHOR_NAME": "GitHub",
            "GIT_AUTHOR_EMAIL": "noreply@github.com",
            "GIT_COMMITTER_NAME": "GitHub",
            "GIT_COMMITTER_EMAIL": "noreply@github.com",
        }
        return subprocess.run(
            ["git", "-C", str(bare), *args],
            input=stdin,
            env=env,
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()

    blob = run("hash-object", "-w", "--stdin", stdin=f"# {name}\n")
    tree = run("mktree", stdin=f"100644 blob {blob}\tREADME.md\n")
    sha = run("commit-tree", tree, "-m", "Initial commit")
    run("update-ref", f"refs/heads/{branch}", sha)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeGitHub


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeGitHub/1.0"
    timeout = 60

    @property
    def fake(self) -> FakeGitHub:
        return cast(_Server, self.server).fake

    def setup(self) -> None:
        super().setup()
        with self.fake._lock:
            self.fake._connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.fake._lock:
                self.fake._connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the records are in `FakeGitHub.requests`."""

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        path = urlsplit(self.path).path
        git_match = GIT_PATH.fullmatch(path)
        record = RecordedRequest(
            method=self.command,
            target=self.path,
            request_line=self.requestline,
            headers=list(self.headers.items()),
            git=git_match is not None,
        )
        self.fake._record(record)
        if git_match is not None:
            record.status = self._git(git_match)
            return
        body = self._read_body()
        record.body = body
        reply = self.fake._rest(self.command, path, self.headers.get("Authorization"), body)
        record.status = reply.status
        self._send(reply)

    # -- REST -----------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return b"".join(self._chunks())
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _chunks(self) -> Iterator[bytes]:
        while True:
            size_line = self.rfile.readline(1024)
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in {b"\r\n", b"\n", b""}:
                    pass  # trailers
                return
            yield self.rfile.read(size)
            self.rfile.readline(16)  # the CRLF after the chunk

    def _send(self, reply: _Reply) -> None:
        data = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status, STATUS_TEXT.get(reply.status))
        if reply.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("X-GitHub-Api-Version-Selected", "2022-11-28")
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if data:
            self.wfile.write(data)

    # -- git ------------------------------------------------------------------------------------

    def _git(self, match: re.Match[str]) -> int:
        self.close_connection = True
        issued = self.fake._git_token(self.headers.get("Authorization"))
        if issued is None:
            self._discard_body()
            return self._plain(401, "Unauthorized\n", {"WWW-Authenticate": 'Basic realm="GitHub"'})
        repo = self.fake._find_repo(unquote(match["owner"]), unquote(match["repo"]))
        rest = match["rest"] or "/"
        if repo is None or ".." in rest or not issued.may_read(repo.name):
            self._discard_body()
            return self._plain(404, "Repository not found.\n")
        pushing = "git-receive-pack" in rest or "service=git-receive-pack" in self.path
        if pushing and not issued.may_push(repo.name):
            self._discard_body()
            return self._plain(403, f"Permission to {repo.owner}/{repo.name}.git denied.\n")
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(self.fake.root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_PROJECT_ROOT": str(self.fake.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": f"/{repo.owner}/{repo.name}.git{rest}",
            "QUERY_STRING": urlsplit(self.path).query,
            "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "REMOTE_USER": "x-access-token",
            "REMOTE_ADDR": self.client_address[0],
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": str(self.fake.port),
        }
        for header, variable in (
            ("Content-Encoding", "HTTP_CONTENT_ENCODING"),
            ("Git-Protocol", "HTTP_GIT_PROTOCOL"),
        ):
            if self.headers.get(header):
                env[variable] = self.headers[header]
        chunked = self.headers.get("Transfer-Encoding", "").lower() == "chunked"
        if not chunked and self.headers.get("Content-Length"):
            env["CONTENT_LENGTH"] = self.headers["Content-Length"]
        with (self.fake.root / "http-backend.log").open("ab") as log:
            process = subprocess.Popen(
                ["git", "http-backend"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=env,
            )
        assert process.stdin is not None
        assert process.stdout is not None
        stdout = cast(io.BufferedReader, process.stdout)
        feeder = threading.Thread(target=self._feed, args=(process.stdin, chunked), daemon=True)
        feeder.start()
        try:
            status, headers = _cgi_headers(stdout)
            self.send_response(status, STATUS_TEXT.get(status))
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            while chunk := stdout.read1(65536):
                self.wfile.write(chunk)
        finally:
            process.stdout.close()
            process.wait(timeout=60)
            feeder.join(timeout=60)
        return status

    def _feed(self, stdin: IO[bytes], chunked: bool) -> None:
        try:
            if chunked:
                for chunk in self._chunks():
                    stdin.write(chunk)
            else:
                remaining = int(self.headers.get("Content-Length") or 0)
                while remaining > 0:
                    data = self.rfile.read(min(remaining, 65536))
                    if not data:
                        break
                    stdin.write(data)
                    remaining -= len(data)
        except (BrokenPipeError, ConnectionError, OSError):
            pass
        finally:
            with contextlib.suppress(OSError):
                stdin.close()

    def _discard_body(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self._read_body()

    def _plain(self, status: int, text: str, headers: dict[str, str] | None = None) -> int:
        data = text.encode()
        self.send_response(status, STATUS_TEXT.get(status))
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return status


def _cgi_headers(stdout: IO[bytes]) -> tuple[int, list[tuple[str, str]]]:
    """The CGI response's status (its `Status:` line, 200 without one) and other headers."""
    status, headers = 200, []
    while True:
        line = stdout.readline(8192)
        if line in {b"", b"\r\n", b"\n"}:
            break
        name, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
        if name.strip().lower() == "status":
            status = int(value.strip().split(" ", 1)[0])
        else:
            headers.append((name.strip(), value.strip()))
    return status, headers
