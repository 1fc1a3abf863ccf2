"""GitHubForge against the fake GitHub: a repository is there while the App sees it, gone once
deleted; another owner's or host's is not ours to check; GitHub failing cannot tell."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from scheduler.adapters.github_forge import GitHubForge, git_base_url
from shared.testing.fake_github import FakeGitHub


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github", owner="acme") as fake:
        yield fake


def make_forge(github: FakeGitHub, *, private_key: str | None = None) -> GitHubForge:
    return GitHubForge(
        httpx.AsyncClient(timeout=10),
        app_id=github.app_id,
        private_key=private_key or github.private_key_pem,
        owner="acme",
        api_url=github.api_url,
    )


@pytest.fixture
async def forge(github: FakeGitHub) -> AsyncIterator[GitHubForge]:
    forge = make_forge(github)
    try:
        yield forge
    finally:
        await forge.aclose()


def asked(github: FakeGitHub) -> list[str]:
    return [f"{r.method} {r.path} {r.status}" for r in github.requests]


async def test_a_repository_the_app_sees_is_there(forge: GitHubForge, github: FakeGitHub) -> None:
    github.create_repository("shop")

    assert await forge.repository_exists(github.clone_url("acme/shop")) is True
    assert await forge.repository_exists(f"{github.url}/ACME/shop") is True
    assert asked(github) == ["GET /repos/acme/shop/installation 200"] * 2
    assert all((r.header("Authorization") or "").startswith("Bearer ey") for r in github.requests)


async def test_a_deleted_repository_is_gone(forge: GitHubForge, github: FakeGitHub) -> None:
    github.create_repository("shop")
    github.delete_repository("acme/shop")

    assert await forge.repository_exists(github.clone_url("acme/shop")) is False
    assert await forge.repository_exists(github.clone_url("acme/never-was")) is False


async def test_another_owners_or_hosts_repository_is_not_ours_to_check(
    forge: GitHubForge, github: FakeGitHub
) -> None:
    github.create_repository("shop", owner="someone-else")
    port = github.port
    for url in [
        github.clone_url("someone-else/shop"),
        "https://github.com/acme/shop.git",
        f"https://127.0.0.1:{port}/acme/shop.git",
        f"http://localhost:{port}/acme/shop.git",
        f"http://x-access-token:secret@127.0.0.1:{port}/acme/shop.git",
        f"{github.url}/acme/shop.git?x=1",
        f"{github.url}/acme/shop/extra.git",
        f"{github.url}/acme/..",
        f"{github.url}/acme/sh%2Fop.git",
        f"{github.url}/acme/",
        "git@github.com:acme/shop.git",
        f"http://127.0.0.1:{port}:99/acme/shop.git",
        "/srv/forge/shop.git",
        "",
    ]:
        assert await forge.repository_exists(url) is None, url
    assert github.requests == []


@pytest.mark.parametrize("status", [500, 502, 503, 429])
async def test_github_failing_cannot_tell(
    forge: GitHubForge, github: FakeGitHub, status: int
) -> None:
    github.create_repository("shop")
    github.fail_next(1, status=status)

    assert await forge.repository_exists(github.clone_url("acme/shop")) is None
    assert await forge.repository_exists(github.clone_url("acme/shop")) is True


async def test_a_rate_limit_cannot_tell(forge: GitHubForge, github: FakeGitHub) -> None:
    github.fail_next(
        1,
        status=403,
        message="API rate limit exceeded",
        headers={"x-ratelimit-remaining": "0"},
    )

    assert await forge.repository_exists(github.clone_url("acme/gone")) is None


async def test_github_not_answering_cannot_tell(github: FakeGitHub) -> None:
    url = github.clone_url("acme/shop")
    forge = make_forge(github)
    github.close()
    try:
        assert await forge.repository_exists(url) is None
    finally:
        await forge.aclose()


async def test_a_jwt_github_refuses_cannot_tell_and_no_secret_is_logged(
    github: FakeGitHub,
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    forge = make_forge(github, private_key=pem)
    try:
        with structlog.testing.capture_logs() as logs:
            found = await forge.repository_exists(github.clone_url("acme/shop"))
    finally:
        await forge.aclose()

    assert found is None
    assert [entry["status"] for entry in logs] == [401]
    sent = github.requests[0].header("Authorization") or ""
    text = repr(logs) + repr(forge)
    assert sent.removeprefix("Bearer ") not in text
    assert pem.splitlines()[1] not in text


async def test_a_renamed_repository_is_followed_to_where_it_is_now(github: FakeGitHub) -> None:
    def github_after_a_rename(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/repos/acme/old-name/installation":
            return httpx.Response(301, headers={"Location": "/repositories/42/installation"})
        return httpx.Response(200, json={"id": github.installation_id})

    forge = GitHubForge(
        httpx.AsyncClient(transport=httpx.MockTransport(github_after_a_rename)),
        app_id=github.app_id,
        private_key=github.private_key_pem,
        owner="acme",
        api_url=github.api_url,
    )
    try:
        assert await forge.repository_exists(github.clone_url("acme/old-name")) is True
    finally:
        await forge.aclose()


def test_git_urls_are_where_scaffolder_records_them() -> None:
    assert git_base_url("https://api.github.com") == "https://github.com/"
    assert git_base_url("https://api.acme.ghe.com") == "https://acme.ghe.com/"
    assert git_base_url("https://ghe.example.com/api/v3") == "https://ghe.example.com/"
