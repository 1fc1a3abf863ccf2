from __future__ import annotations

from pathlib import Path

import pytest
from infra_service.adapters.local_secrets import LocalSecrets
from infra_service.config import InfraSettings
from infra_service.domain.secrets import (
    SecretRef,
    SecretUnavailable,
    parse_app_secrets,
    parse_ref,
    scrub,
)


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
    secrets = LocalSecrets(variables=InfraSettings().secret_variables(), directory=None)

    assert secrets.resolve("env:TOKEN") == "t0k3n"
    with pytest.raises(SecretUnavailable, match="'env:API_KEY' is not set"):
        secrets.resolve("env:API_KEY")


def test_file_references_read_under_the_secrets_directory(tmp_path: Path) -> None:
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "web-1").write_text("-----KEY-----\n")
    secrets = LocalSecrets(variables={}, directory=tmp_path)

    assert secrets.resolve("file:keys/web-1") == "-----KEY-----"
    with pytest.raises(SecretUnavailable, match="cannot be read"):
        secrets.resolve("file:keys/missing")


def test_file_references_without_a_secrets_directory_are_unavailable() -> None:
    with pytest.raises(SecretUnavailable, match="no secrets directory"):
        LocalSecrets(variables={}, directory=None).resolve("file:x")


def test_app_secrets_are_key_value_lines() -> None:
    text = "# shop\nDATABASE_URL=postgres://u:p@h/db\n\n STRIPE_KEY = sk=1 \n"

    assert parse_app_secrets(text, "env:S") == {
        "DATABASE_URL": "postgres://u:p@h/db",
        "STRIPE_KEY": "sk=1",
    }


@pytest.mark.parametrize("text", ["just-a-value-s3cr3t", "1BAD=x", "PORT=80"])
def test_a_bad_secrets_line_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(SecretUnavailable) as error:
        parse_app_secrets(text, "env:S")
    assert "s3cr3t" not in str(error.value)
    assert "env:S" in str(error.value)


def test_scrub_replaces_every_secret_longest_first() -> None:
    text = "token abcd1234 and abcd1234-long, short xy"

    assert scrub(text, ["abcd1234", "abcd1234-long", "xy"]) == "token *** and ***, short xy"
    assert scrub(None, ["abcd1234"]) is None
