"""The fake GitHub: an App's JWT and installation tokens, repositories, git over smart HTTP."""

from __future__ import annotations

import base64
import functools
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from shared.testing.fake_github import FakeGitHub
from shared.testing.git import commit, git, work_tree


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github", owner="acme") as fake:
        yield fake


@pytest.fixture
def api(github: FakeGitHub) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=github.api_url) as client:
        yield client


def app_jwt(
    github: FakeGitHub,
    *,
    key: str | None = None,
    iss: object = None,
    iat: float | None = None,
    exp: float | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iat": now - 60 if iat is None else iat,
        "exp": now + 540 if exp is None else exp,
        "iss": str(github.app_id) if iss is None else iss,
    }
    return jwt.encode(claims, key or github.private_key_pem, algorithm="RS256")


def mint(github: FakeGitHub, api: httpx.Client) -> str:
    response = api.post(
        f"/app/installations/{github.installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {app_jwt(github)}"},
    )
    assert response.status_code == 201, response.text
    return str(response.json()["token"])


@functools.cache
def other_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def git_env(**extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ["PATH"],
        "HOME": os.environ.get("HOME", "/nonexistent"),
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        **extra,
    }


def auth_env(token: str) -> dict[str, str]:
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return git_env(
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="http.extraHeader",
        GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
    )


def run_git(
    *args: str, env: dict[str, str], cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def as_token(token: str) -> dict[str, str]:
    return {"Authorization": f"token {token}"}


@pytest.mark.parametrize(
    "case",
    ["other key", "wrong iss", "expired", "too long", "issued in the future", "not a jwt"],
)
def test_a_jwt_that_is_not_the_apps_or_not_current_is_refused(
    github: FakeGitHub, api: httpx.Client, case: str
) -> None:
    now = int(time.time())
    tokens: dict[str, Callable[[], str]] = {
        "other key": lambda: app_jwt(github, key=other_key()),
        "wrong iss": lambda: app_jwt(github, iss="999"),
        "expired": lambda: app_jwt(github, iat=now - 700, exp=now - 100),
        "too long": lambda: app_jwt(github, exp=now + 3600),
        "issued in the future": lambda: app_jwt(github, iat=now + 300, exp=now + 500),
        "not a jwt": lambda: "ghs_notajwt",
    }
    token = tokens[case]()
    headers = {"Authorization": f"Bearer {token}"}

    minted = api.post(f"/app/installations/{github.installation_id}/access_tokens", headers=headers)
    found = api.get("/orgs/acme/installation", headers=headers)

    assert (minted.status_code, found.status_code) == (401, 401)
    assert minted.json()["message"]
    assert github.tokens == []


def test_the_installation_is_found_for_its_owner_only(tmp_path: Path) -> None:
    with (
        FakeGitHub(tmp_path / "gh", owner="alice", owner_kind="user") as github,
        httpx.Client(base_url=github.api_url) as api,
    ):
        api.headers["Authorization"] = f"Bearer {app_jwt(github)}"
        found = api.get("/users/alice/installation")
        assert found.status_code == 200
        assert found.json()["id"] == github.installation_id
        assert found.json()["account"] == {"login": "alice", "type": "User"}
        assert api.get("/orgs/alice/installation").status_code == 404
        assert api.get("/users/bob/installation").status_code == 404


def test_a_token_minted_with_the_apps_jwt_creates_a_repository(
    github: FakeGitHub, api: httpx.Client
) -> None:
    token = mint(github, api)
    assert token.startswith("ghs_")
    assert [t.token for t in github.tokens] == [token]
    assert github.tokens[0].expires_at > time.time() + 3000
    assert token not in repr(github.tokens)

    created = api.post(
        "/orgs/acme/repos",
        json={"name": "svc", "description": "d", "private": True},
        headers=as_token(token),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["full_name"] == "acme/svc"
    assert body["clone_url"] == f"{github.url}/acme/svc.git"
    assert (body["private"], body["default_branch"]) == (True, "main")
    assert (github.repositories["acme/svc"] / "HEAD").is_file()

    again = api.post("/orgs/acme/repos", json={"name": "SVC"}, headers=as_token(token))
    assert again.status_code == 422
    assert again.json()["errors"][0]["message"] == "name already exists on this account"

    assert api.get("/repos/acme/svc", headers=as_token(token)).json() == body
    assert api.get("/repos/acme/missing", headers=as_token(token)).status_code == 404
    assert (
        api.post("/orgs/other/repos", json={"name": "x"}, headers=as_token(token)).status_code
        == 404
    )
    assert (
        api.post("/orgs/acme/repos", json={"name": "../x"}, headers=as_token(token)).status_code
        == 422
    )
    assert api.get("/repos/acme/svc").status_code == 401


def test_an_expired_or_revoked_token_is_refused(github: FakeGitHub, api: httpx.Client) -> None:
    expired = mint(github, api)
    github.expire_tokens()
    revoked = mint(github, api)
    revoke = api.delete("/installation/token", headers={"Authorization": f"Bearer {revoked}"})
    assert revoke.status_code == 204

    for token in (expired, revoked):
        response = api.get("/repos/acme/x", headers=as_token(token))
        assert response.status_code == 401
        assert response.json()["message"] == "Bad credentials"


def test_cloning_without_a_token_is_refused(github: FakeGitHub, tmp_path: Path) -> None:
    github.create_repository("svc", files={"README.md": "# svc\n"})
    clone_url = github.clone_url("acme/svc")

    anonymous = run_git("clone", clone_url, str(tmp_path / "a"), env=git_env())
    wrong = run_git("clone", clone_url, str(tmp_path / "b"), env=auth_env("ghs_wrong"))

    assert anonymous.returncode != 0
    assert wrong.returncode != 0
    assert not (tmp_path / "a" / "README.md").exists()
    assert not (tmp_path / "b" / "README.md").exists()
    refused = [r for r in github.requests if r.git]
    assert refused
    assert {r.status for r in refused} == {401}
    assert refused[0].header("Authorization") is None


def test_pushing_with_the_token_works_and_ls_remote_shows_the_commit(
    github: FakeGitHub, api: httpx.Client, tmp_path: Path
) -> None:
    token = mint(github, api)
    api.post("/orgs/acme/repos", json={"name": "svc"}, headers=as_token(token)).raise_for_status()
    clone_url = github.clone_url("acme/svc")
    repo = work_tree(tmp_path / "work", {"app.py": "print(1)\n"})
    sha = commit(repo, {"VERSION": "2\n"}, "version 2")

    pushed = run_git("push", clone_url, "HEAD:main", env=auth_env(token), cwd=repo)
    assert pushed.returncode == 0, pushed.stderr

    assert git(github.repositories["acme/svc"], "rev-parse", "refs/heads/main") == sha
    listed = run_git("ls-remote", clone_url, env=auth_env(token))
    assert f"{sha}\trefs/heads/main" in listed.stdout
    bearer = git_env(
        GIT_CONFIG_COUNT="1",
        GIT_CONFIG_KEY_0="http.extraHeader",
        GIT_CONFIG_VALUE_0=f"Authorization: Bearer {token}",
    )
    cloned = run_git("clone", "-q", clone_url, str(tmp_path / "clone"), env=bearer)
    assert cloned.returncode == 0, cloned.stderr
    assert (tmp_path / "clone" / "VERSION").read_text() == "2\n"
    assert github.seen(token)
    assert not [r for r in github.requests if token in r.request_line]


def test_a_token_restricted_to_one_repository_reaches_that_one_only(
    github: FakeGitHub, api: httpx.Client, tmp_path: Path
) -> None:
    github.create_repository("shop", files={"README.md": "# shop\n"})
    github.create_repository("bank", files={"README.md": "# bank\n"})
    minted = api.post(
        f"/app/installations/{github.installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {app_jwt(github)}"},
        json={"repositories": ["shop"], "permissions": {"contents": "write"}},
    )
    assert minted.status_code == 201, minted.text
    token = minted.json()["token"]
    assert minted.json()["repository_selection"] == "selected"
    [issued] = github.tokens
    assert (issued.repositories, issued.permissions) == (("shop",), (("contents", "write"),))

    assert api.get("/repos/acme/shop", headers=as_token(token)).status_code == 200
    assert api.get("/repos/acme/bank", headers=as_token(token)).status_code == 404
    shop = run_git(
        "clone", "-q", github.clone_url("acme/shop"), str(tmp_path / "s"), env=auth_env(token)
    )
    bank = run_git(
        "clone", "-q", github.clone_url("acme/bank"), str(tmp_path / "b"), env=auth_env(token)
    )
    assert shop.returncode == 0, shop.stderr
    assert bank.returncode != 0
    assert "not found" in bank.stderr.lower()


def test_a_read_only_token_cannot_push_and_a_missing_repository_cannot_be_asked_for(
    github: FakeGitHub, api: httpx.Client, tmp_path: Path
) -> None:
    github.create_repository("shop", files={"README.md": "# shop\n"})
    reader = github.installation_token(repositories=("shop",), permissions={"contents": "read"})
    repo = work_tree(tmp_path / "work", {"app.py": "print(1)\n"})

    pushed = run_git(
        "push", github.clone_url("acme/shop"), "HEAD:refs/heads/x", env=auth_env(reader), cwd=repo
    )
    assert pushed.returncode != 0
    assert "403" in pushed.stderr

    missing = api.post(
        f"/app/installations/{github.installation_id}/access_tokens",
        headers={"Authorization": f"Bearer {app_jwt(github)}"},
        json={"repositories": ["nowhere"]},
    )
    assert missing.status_code == 422


def test_fail_next_makes_the_next_rest_calls_fail(github: FakeGitHub, api: httpx.Client) -> None:
    token = mint(github, api)
    github.fail_next(2, status=503)

    first = api.get("/repos/acme/svc", headers=as_token(token))
    second = api.post("/orgs/acme/repos", json={"name": "svc"}, headers=as_token(token))
    third = api.post("/orgs/acme/repos", json={"name": "svc"}, headers=as_token(token))

    assert (first.status_code, second.status_code, third.status_code) == (503, 503, 201)
    assert first.json()["message"] == "Service Unavailable"
    assert "acme/svc" in github.repositories
    assert [r.status for r in github.requests][-3:] == [503, 503, 201]


def test_auto_init_makes_a_first_commit(github: FakeGitHub, api: httpx.Client) -> None:
    token = mint(github, api)
    api.post(
        "/orgs/acme/repos", json={"name": "seeded", "auto_init": True}, headers=as_token(token)
    ).raise_for_status()

    assert git(github.repositories["acme/seeded"], "show", "main:README.md") == "# seeded"
