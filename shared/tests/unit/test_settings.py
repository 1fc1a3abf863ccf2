"""The settings base: read from the environment, safe in production."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError
from shared.settings import Environment, ServiceSettings


class ExampleSettings(ServiceSettings):
    redis_url: str = "redis://127.0.0.1:6379/0"
    api_key: SecretStr = SecretStr("changeme")


def test_settings_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://example:6380/1")
    monkeypatch.setenv("ENVIRONMENT", "test")
    settings = ExampleSettings()
    assert settings.redis_url == "redis://example:6380/1"
    assert settings.environment is Environment.TEST


def test_placeholder_secrets_are_refused_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="api_key must be set to a real secret"):
        ExampleSettings()


def test_real_secrets_are_accepted_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    monkeypatch.setenv("API_KEY", "k-4f1c9e0b7a")
    assert ExampleSettings().api_key.get_secret_value() == "k-4f1c9e0b7a"


def test_logs_are_json_in_production_and_console_elsewhere_unless_chosen() -> None:
    assert ServiceSettings(environment=Environment.PRODUCTION).log_json
    assert not ServiceSettings(environment=Environment.LOCAL).log_json
    assert ServiceSettings(environment=Environment.LOCAL, log_format="json").log_json
