from __future__ import annotations

import pytest
from infra_service.domain.project_file import ProjectFileError, parse_project_file
from infra_service.domain.sources import SourceUnavailable, check_commit, repository_url


def test_a_project_file_declares_services_and_the_first_is_the_entry_point() -> None:
    spec = parse_project_file(
        """
services:
  web:
    build: npm ci && npm run build
    run: node server.js
    health: /healthz
  worker:
    run: python -m worker
    health: /health
    directory: services/worker
"""
    )

    assert list(spec.services) == ["web", "worker"]
    assert spec.entry_point == "web"
    assert spec.services["web"].build == "npm ci && npm run build"
    assert spec.services["worker"].build is None
    assert spec.services["worker"].directory == "services/worker"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("services: [", "not valid YAML"),
        ("- web", "must be a mapping"),
        ("services:\n  web:\n    run: x\n", "services.web.health: Field required"),
        ("services:\n  web:\n    run: x\n    health: healthz\n", "services.web.health"),
        ("services:\n  Web:\n    run: x\n    health: /\n", "services.Web"),
        ("services:\n  web:\n    run: x\n    health: /\n    port: 80\n", "services.web.port"),
        (
            "services:\n  web:\n    run: x\n    health: /\n    directory: ../up\n",
            "directory must be a relative path",
        ),
        ("services: {}\n", "services: Dictionary should have at least 1 item"),
    ],
)
def test_a_bad_project_file_is_refused_naming_the_field(text: str, error: str) -> None:
    with pytest.raises(ProjectFileError) as raised:
        parse_project_file(text)
    assert error in str(raised.value)


def test_owner_name_repositories_are_on_the_forge_and_urls_are_taken_as_they_are() -> None:
    assert repository_url("acme/shop", "https://github.com/") == "https://github.com/acme/shop.git"
    assert repository_url("/data/git/shop.git", "https://x") == "/data/git/shop.git"
    assert repository_url("file:///data/git/shop.git", "https://x") == "file:///data/git/shop.git"


@pytest.mark.parametrize("name", ["shop", "a/b/c", "../etc", "acme/.."])
def test_anything_else_is_not_a_repository(name: str) -> None:
    with pytest.raises(SourceUnavailable):
        repository_url(name, "https://github.com")


def test_a_commit_is_hexadecimal() -> None:
    assert check_commit("0a1b2c3d") == "0a1b2c3d"
    with pytest.raises(SourceUnavailable):
        check_commit("main")
