"""Which forge repository sync asks: FORGE chooses; GitHub's App key comes from its secret
reference, and settings that cannot reach GitHub stop the scheduler at its start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from scheduler.adapters.github_forge import GitHubForge
from scheduler.adapters.local_forge import LocalForge
from scheduler.bootstrap import make_forge
from scheduler.config import SchedulerSettings
from scheduler_testing import scheduler_settings
from shared.secrets import SecretUnavailable
from shared.testing.fake_github import FakeGitHub


def settings(**fields: Any) -> SchedulerSettings:
    return scheduler_settings(
        redis_url="redis://127.0.0.1:1/0", api_url="http://127.0.0.1:1", api_key="k", **fields
    )


def test_the_local_forge_reads_the_forge_directory(tmp_path: Path) -> None:
    forge = make_forge(settings(forge="local", local_forge_dir=tmp_path))

    assert isinstance(forge, LocalForge)
    assert forge.path_of(str(tmp_path / "shop.git")) == (tmp_path / "shop.git").resolve()


async def test_github_reads_the_apps_key_from_its_secret_reference(tmp_path: Path) -> None:
    github = FakeGitHub(tmp_path / "github")  # only its key: never started
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "github-app.pem").write_text(github.private_key_pem)

    forge = make_forge(
        settings(
            forge="github",
            github_app_id="42",
            github_owner="acme",
            github_private_key_ref="file:github-app.pem",
            secrets_dir=tmp_path / "secrets",
        )
    )
    try:
        assert isinstance(forge, GitHubForge)
        assert forge.repository_name("https://github.com/acme/shop.git") == "shop"
    finally:
        await forge.aclose()
        github.close()


@pytest.mark.parametrize(
    "missing",
    [{"github_app_id": ""}, {"github_owner": ""}, {"github_private_key_ref": None}],
)
def test_github_without_what_it_needs_is_refused_as_a_setting(missing: dict[str, Any]) -> None:
    complete = {
        "forge": "github",
        "github_app_id": "42",
        "github_owner": "acme",
        "github_private_key_ref": "env:GITHUB_APP_KEY",
    }
    with pytest.raises(ValueError, match="GITHUB_APP_ID, GITHUB_PRIVATE_KEY_REF, GITHUB_OWNER"):
        settings(**(complete | missing))


def test_hetzner_without_a_token_reference_is_refused_as_a_setting() -> None:
    with pytest.raises(ValueError, match="HETZNER_TOKEN_REF"):
        settings(server_provider="hetzner")


def test_a_key_reference_naming_nothing_stops_the_start(tmp_path: Path) -> None:
    with pytest.raises(SecretUnavailable, match=r"file:absent\.pem"):
        make_forge(
            settings(
                forge="github",
                github_app_id="42",
                github_owner="acme",
                github_private_key_ref="file:absent.pem",
                secrets_dir=tmp_path,
            )
        )
