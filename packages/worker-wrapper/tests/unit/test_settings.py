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
