from __future__ import annotations

import pytest
from pydantic import ValidationError
from worker_wrapper.config import WrapperSettings


def test_a_worker_needs_an_id_and_a_known_type(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_TYPE", "manager")
    with pytest.raises(ValidationError) as caught:
        WrapperSettings()
    fields = {e["loc"][0] for e in caught.value.errors()}
    assert fields == {"worker_id", "worker_type"}


def test_an_unknown_agent_type_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_ID", "w")
    monkeypatch.setenv("WORKER_TYPE", "po")
    monkeypatch.setenv("AGENT_TYPE", "gpt")
    with pytest.raises(ValidationError, match="agent_type"):
        WrapperSettings()


@pytest.mark.parametrize("session_id", ["--dangerous", "a b", "../x"])
def test_a_session_to_continue_must_be_an_identifier(
    monkeypatch: pytest.MonkeyPatch, session_id: str
) -> None:
    monkeypatch.setenv("WORKER_ID", "po-1")
    monkeypatch.setenv("WORKER_TYPE", "po")
    monkeypatch.setenv("SESSION_ID", session_id)
    with pytest.raises(ValidationError, match="session_id"):
        WrapperSettings()


def test_an_empty_session_is_no_session(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_ID", "po-1")
    monkeypatch.setenv("WORKER_TYPE", "po")
    monkeypatch.setenv("SESSION_ID", "")
    assert WrapperSettings().session_id is None


def test_a_session_to_continue_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKER_ID", "po-1")
    monkeypatch.setenv("WORKER_TYPE", "po")
    monkeypatch.setenv("SESSION_ID", "9b2f3c1e-1d2a-4c7b-9e0f-2a3b4c5d6e7f")
    assert WrapperSettings().session_id == "9b2f3c1e-1d2a-4c7b-9e0f-2a3b4c5d6e7f"
