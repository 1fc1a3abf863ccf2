from __future__ import annotations

import pytest
from infra_service.config import InfraSettings
from infra_service.domain.secrets import parse_app_secrets
from shared.secrets import LocalSecrets, SecretUnavailable


def test_env_references_read_only_infra_services_prefixed_variables(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CODEGEN_SECRET_TOKEN", "t0k3n")
    monkeypatch.setenv("API_KEY", "service-key")
    secrets = LocalSecrets(variables=InfraSettings().secret_variables(), directory=None)

    assert secrets.resolve("env:TOKEN") == "t0k3n"
    with pytest.raises(SecretUnavailable, match="'env:API_KEY' is not set"):
        secrets.resolve("env:API_KEY")


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
