from __future__ import annotations

from pathlib import Path

import pytest
from shared.secrets import LocalSecrets, SecretRef, SecretUnavailable, parse_ref, scrub
from shared.settings import SecretSettings


def test_a_reference_names_a_scheme_and_a_name() -> None:
    assert parse_ref("env:GITHUB_TOKEN") == SecretRef("env", "GITHUB_TOKEN")
    assert parse_ref("file:projects/shop.env") == SecretRef("file", "projects/shop.env")


@pytest.mark.parametrize(
    "ref", ["GITHUB_TOKEN", "vault:x", "env:", "env:1X", "env:A-B", "file:../etc/shadow", "file:/x"]
)
def test_a_malformed_reference_is_refused_by_name(ref: str) -> None:
    with pytest.raises(SecretUnavailable) as error:
        parse_ref(ref)
    assert repr(ref) in str(error.value)


def test_env_references_read_only_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODEGEN_SECRET_TOKEN", "t0k3n")
    monkeypatch.setenv("API_KEY", "service-key")
    secrets = LocalSecrets(variables=SecretSettings().secret_variables(), directory=None)

    assert secrets.resolve("env:TOKEN") == "t0k3n"
    with pytest.raises(SecretUnavailable, match="'env:API_KEY' is not set"):
        secrets.resolve("env:API_KEY")


def test_the_prefix_is_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SECRET_ENV_PREFIX", "WM_SECRET_")
    monkeypatch.setenv("WM_SECRET_MODEL_KEY", "k3y")

    assert SecretSettings().secret_variables() == {"MODEL_KEY": "k3y"}


def test_file_references_read_under_the_secrets_directory(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "web-1").write_text("-----KEY-----\n")
    secrets = LocalSecrets(variables={}, directory=tmp_path)

    assert secrets.resolve("file:keys/web-1") == "-----KEY-----"
    with pytest.raises(SecretUnavailable, match="cannot be read"):
        secrets.resolve("file:keys/missing")


def test_a_link_out_of_the_secrets_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("not-yours\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "escape").symlink_to(tmp_path / "outside")
    secrets = LocalSecrets(variables={}, directory=tmp_path / "secrets")

    with pytest.raises(SecretUnavailable, match="leads out of the secrets directory") as error:
        secrets.resolve("file:escape")
    assert "not-yours" not in str(error.value)


def test_file_references_without_a_secrets_directory_are_unavailable() -> None:
    with pytest.raises(SecretUnavailable, match="no secrets directory"):
        LocalSecrets(variables={}, directory=None).resolve("file:x")


def test_scrub_replaces_every_secret_longest_first() -> None:
    text = "token abcd1234 and abcd1234-long, short xy"

    assert scrub(text, ["abcd1234", "abcd1234-long", "xy"]) == "token *** and ***, short xy"
    assert scrub(None, ["abcd1234"]) is None
