"""GitHubForge against the fake GitHub: an App's installation, repositories, git with the token."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import structlog
from pydantic import SecretStr
from scaffolder.adapters.github_forge import GitHubForge, git_base_url
from scaffolder.ports import Forge, ForgeRefused, ForgeUnavailable
from shared.testing.fake_github import FakeGitHub
from shared.testing.git import branch_head, commit, work_tree


class Clock:
    """One clock for the fake and the forge, moved by the test."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def github(tmp_path: Path, clock: Clock) -> Iterator[FakeGitHub]:
    with FakeGitHub(tmp_path / "github", owner="acme", clock=clock) as fake:
        yield fake


def make_forge(github: FakeGitHub, clock: Clock, **options: object) -> GitHubForge:
    settings: dict[str, object] = {
        "api_url": github.api_url,
        "app_id": github.app_id,
        "private_key": SecretStr(github.private_key_pem),
        "owner": github.owner,
        "owner_kind": github.owner_kind,
        "clock": clock,
        **options,
    }
    return GitHubForge(**settings)  # type: ignore[arg-type]


@pytest.fixture
async def forge(github: FakeGitHub, clock: Clock) -> AsyncIterator[GitHubForge]:
    forge = make_forge(github, clock)
    yield forge
    await forge.aclose()


def push(repo: Path, url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`git push <url> HEAD:main` in `repo` with exactly `env`."""
    return subprocess.run(
        ["git", "push", url, "HEAD:main"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def calls(github: FakeGitHub, method: str, path_end: str) -> int:
    return sum(1 for r in github.requests if r.method == method and r.path.endswith(path_end))


async def test_a_repository_is_created_then_found(github: FakeGitHub, forge: GitHubForge) -> None:
    port: Forge = forge

    first = await port.ensure_repository("svc", description="a service")
    again = await port.ensure_repository("svc", description="a service")

    assert (first.name, first.created) == ("svc", True)
    assert first.clone_url == f"{github.url}/acme/svc.git"
    assert (again.created, again.clone_url) == (False, first.clone_url)
    assert list(github.repositories) == ["acme/svc"]
    create = next(r for r in github.requests if r.method == "POST" and r.path == "/orgs/acme/repos")
    assert json.loads(create.body or b"") == {
        "name": "svc",
        "description": "a service",
        "private": True,
        "auto_init": False,
    }
    assert calls(github, "GET", "/installation") == 1


async def test_a_users_repository_is_created_under_the_user(tmp_path: Path, clock: Clock) -> None:
    with FakeGitHub(tmp_path / "gh", owner="alice", owner_kind="user", clock=clock) as github:
        async with httpx.AsyncClient() as client:
            forge = make_forge(github, clock, client=client, private=False)
            repository = await forge.ensure_repository("svc", description="")
            await forge.aclose()  # not its client: left open
            assert not client.is_closed

    assert repository.clone_url.endswith("/alice/svc.git")
    assert [r.path for r in github.requests if r.method == "POST"][-1] == "/user/repos"
    assert "alice/svc" in github.repositories


async def test_the_installation_token_is_reused_until_a_minute_before_it_expires(
    github: FakeGitHub, forge: GitHubForge, clock: Clock
) -> None:
    await forge.ensure_repository("one", description="")
    environment = await forge.git_environment()
    await forge.ensure_repository("two", description="")
    assert len(github.tokens) == 1
    expires_at = github.tokens[0].expires_at

    clock.now = expires_at - 61
    await forge.ensure_repository("three", description="")
    assert await forge.git_environment() == environment
    assert len(github.tokens) == 1

    clock.now = expires_at - 59
    await forge.ensure_repository("four", description="")
    assert len(github.tokens) == 2
    assert await forge.git_environment() != environment
    assert calls(github, "GET", "/installation") == 1


async def test_a_token_refused_early_is_replaced_once(
    github: FakeGitHub, forge: GitHubForge
) -> None:
    await forge.ensure_repository("one", description="")
    github.expire_tokens()  # revoked, or expired before its time

    repository = await forge.ensure_repository("two", description="")

    assert repository.created
    assert len(github.tokens) == 2


@pytest.mark.parametrize(
    ("status", "headers"),
    [(503, {}), (502, {}), (429, {"Retry-After": "1"}), (403, {"x-ratelimit-remaining": "0"})],
)
async def test_a_server_error_or_rate_limit_is_unavailable_and_a_retry_succeeds(
    github: FakeGitHub, forge: GitHubForge, status: int, headers: dict[str, str]
) -> None:
    await forge.git_environment()  # the token is there: the failure hits the repository call
    github.fail_next(1, status=status, headers=headers)

    with pytest.raises(ForgeUnavailable, match=str(status)):
        await forge.ensure_repository("svc", description="")
    repository = await forge.ensure_repository("svc", description="")

    assert repository.created


async def test_a_failure_while_minting_the_token_is_unavailable(
    github: FakeGitHub, forge: GitHubForge
) -> None:
    github.fail_next(2, status=503)  # the installation lookup, then the token

    with pytest.raises(ForgeUnavailable):
        await forge.ensure_repository("svc", description="")
    with pytest.raises(ForgeUnavailable):
        await forge.ensure_repository("svc", description="")

    assert (await forge.ensure_repository("svc", description="")).created


async def test_no_answer_is_unavailable(github: FakeGitHub, clock: Clock) -> None:
    with socket.socket() as bound:  # bound, never listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        forge = make_forge(github, clock, api_url=f"http://127.0.0.1:{bound.getsockname()[1]}")

        with pytest.raises(ForgeUnavailable, match="did not answer"):
            await forge.ensure_repository("svc", description="")
        await forge.aclose()


async def test_a_403_is_refused(github: FakeGitHub, forge: GitHubForge) -> None:
    await forge.git_environment()
    github.fail_next(1, status=403, message="Resource not accessible by integration")

    with pytest.raises(ForgeRefused, match="Resource not accessible by integration"):
        await forge.ensure_repository("svc", description="")


async def test_a_bad_name_is_refused(forge: GitHubForge) -> None:
    with pytest.raises(ForgeRefused, match="422"):
        await forge.ensure_repository("no/such name", description="")


async def test_an_owner_without_the_app_is_refused(github: FakeGitHub, clock: Clock) -> None:
    forge = make_forge(github, clock, owner="somebody-else")

    with pytest.raises(ForgeRefused, match="not installed"):
        await forge.ensure_repository("svc", description="")
    await forge.aclose()


async def test_a_key_that_is_not_the_apps_is_refused(github: FakeGitHub, clock: Clock) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    forge = make_forge(github, clock, private_key=SecretStr(other.decode()))

    with pytest.raises(ForgeRefused, match="401"):
        await forge.ensure_repository("svc", description="")
    await forge.aclose()


def test_gits_url_is_githubs_web_host() -> None:
    assert git_base_url("https://api.github.com") == "https://github.com/"
    assert git_base_url("https://ghe.example.com/api/v3") == "https://ghe.example.com/"
    assert git_base_url("http://127.0.0.1:8123") == "http://127.0.0.1:8123/"


async def test_a_push_with_the_git_environment_reaches_github_and_the_token_stays_in_memory(
    github: FakeGitHub, forge: GitHubForge, tmp_path: Path
) -> None:
    with structlog.testing.capture_logs() as logs:
        repository = await forge.ensure_repository("svc", description="")
        forge_env = await forge.git_environment()
    token = github.tokens[-1].token
    repo = work_tree(tmp_path / "work", {"app.py": "print(1)\n"})
    sha = commit(repo, {"VERSION": "2\n"}, "version 2")
    home = tmp_path / "home"
    home.mkdir()

    env = {"PATH": os.environ["PATH"], "HOME": str(home), **forge_env}
    pushed = await asyncio.to_thread(push, repo, repository.clone_url, env)

    assert pushed.returncode == 0, pushed.stderr
    assert branch_head(github.repositories["acme/svc"], "main") == sha
    secrets = (token, forge_env["GIT_CONFIG_VALUE_0"].split()[-1])
    assert github.seen(token)  # in a header, as it should be
    for secret in secrets:
        assert not [r.request_line for r in github.requests if secret in r.request_line]
        assert secret not in (repo / ".git" / "config").read_text()
        assert secret not in pushed.stdout + pushed.stderr
        assert secret not in repr(logs)
        assert not [p for p in home.rglob("*") if p.is_file() and secret in p.read_text()]
    assert forge_env["GIT_TERMINAL_PROMPT"] == "0"
    assert forge_env["GIT_CONFIG_KEY_0"] == f"http.{github.url}/.extraheader"


async def test_a_push_without_the_environment_is_refused(
    github: FakeGitHub, forge: GitHubForge, tmp_path: Path
) -> None:
    repository = await forge.ensure_repository("svc", description="")
    repo = work_tree(tmp_path / "work")

    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "GIT_TERMINAL_PROMPT": "0"}
    pushed = await asyncio.to_thread(push, repo, repository.clone_url, env)

    assert pushed.returncode != 0
    assert branch_head(github.repositories["acme/svc"], "main") is None
