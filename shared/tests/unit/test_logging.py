"""Logging: JSON lines with the message's ids bound, secrets never shown."""

from __future__ import annotations

import json

import pytest
import structlog
from shared.logging import MAX_TEXT, REDACTED, configure_logging, redact, scrub_text


class TestRedact:
    @pytest.mark.parametrize(
        "key",
        [
            "token",
            "github_token",
            "password",
            "DB_PASSWORD",
            "client_secret",
            "api_key",
            "apiKey",
            "Authorization",
            "ssh_private_key",
        ],
    )
    def test_secret_looking_keys_lose_their_values(self, key: str) -> None:
        assert redact({key: "hunter2"}) == {key: REDACTED}

    def test_nested_secrets_are_found_in_dicts_and_lists(self) -> None:
        event = {"request": {"headers": [{"authorization": "Bearer abc"}]}, "n": 1}
        assert redact(event) == {"request": {"headers": [{"authorization": REDACTED}]}, "n": 1}

    def test_bearer_tokens_and_url_passwords_inside_text_are_hidden(self) -> None:
        text = "calling redis://:s3cretpass@h:6379 with Bearer abcdefghijkl"
        assert scrub_text(text) == f"calling redis://:{REDACTED}@h:6379 with Bearer {REDACTED}"

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("login with password=hunter2 now", f"login with password={REDACTED} now"),
            ("DB_PASSWORD: 'hunter2'", f"DB_PASSWORD: '{REDACTED}'"),
            ("url?api_key=abc123&x=1", f"url?api_key={REDACTED}&x=1"),
            ("github_token=ghs_abc, next", f"github_token={REDACTED}, next"),
        ],
    )
    def test_secrets_assigned_inside_text_are_hidden(self, text: str, expected: str) -> None:
        assert scrub_text(text) == expected

    def test_counts_named_after_secrets_are_not_secrets(self) -> None:
        text = "tokens_used=5 max_tokens=10 secrets_ref=env:X"
        assert scrub_text(text) == text

    def test_ordinary_keys_are_left_alone(self) -> None:
        assert redact({"task_id": "t-1", "tokens_used": 5}) == {"task_id": "t-1", "tokens_used": 5}

    # Shapes that made the earlier patterns backtrack at every position (a service quoting a
    # hostile entry in its log wedged for hours); the pytest timeout is the bound, not a speed.
    @pytest.mark.timeout(60)
    @pytest.mark.parametrize(
        "unit",
        ["n", "a.", "a-", "x://", "a:", "token ", "password ", "password", " ", "<result>"],
    )
    def test_a_megabyte_of_hostile_text_is_scrubbed_in_linear_time(self, unit: str) -> None:
        text = unit * (1_000_000 // len(unit)) + " password=hunter2"
        assert scrub_text(text).endswith(REDACTED)
        assert "hunter2" not in scrub_text(text)

    def test_a_long_text_is_cut_after_it_is_scrubbed(self) -> None:
        text = "password=hunter2 " + "x" * (2 * MAX_TEXT)
        logged = redact({"error": text})["error"]
        assert logged.startswith(f"password={REDACTED} ")
        assert logged.endswith(f"[{len(scrub_text(text)) - MAX_TEXT} more characters]")
        assert len(logged) < MAX_TEXT + 40


def test_json_logs_carry_bound_ids_and_redact_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test-service", json=True)
    with structlog.contextvars.bound_contextvars(correlation_id="c-1", request_id="r-1"):
        structlog.get_logger().info("handled", api_key="sk-live-123")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["event"] == "handled"
    assert line["correlation_id"] == "c-1"
    assert line["request_id"] == "r-1"
    assert line["service"] == "test-service"
    assert line["api_key"] == REDACTED
    assert "sk-live-123" not in json.dumps(line)


def test_standard_library_logs_go_through_the_same_pipeline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import logging

    configure_logging("test-service", json=True)
    logging.getLogger("somelib").warning("connecting with password=%s", "hunter2")
    err = capsys.readouterr().err
    line = json.loads(err.strip().splitlines()[-1])
    assert line["logger"] == "somelib"
    assert line["level"] == "warning"
    assert line["event"] == f"connecting with password={REDACTED}"
    assert "hunter2" not in err


def test_console_logs_are_readable_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("test-service", json=False)
    structlog.get_logger().info("hello", task_id="t-1")
    err = capsys.readouterr().err
    assert "hello" in err
    assert "task_id=t-1" in err
    assert not err.lstrip().startswith("{")
