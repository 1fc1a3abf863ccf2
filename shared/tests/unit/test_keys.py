"""The key registry: names built only from safe parameters, shared values read as their DTOs."""

from __future__ import annotations

import pytest
from shared.contracts import WorkerActivity, WorkerHeartbeat, WorkerState
from shared.keys import KEYS, WORKER_HEARTBEAT, WORKER_STATUS, WORKERS_LIVE


def test_a_key_is_named_from_its_parameters() -> None:
    assert WORKER_STATUS.name(worker_id="po-1") == "worker:status:po-1"
    assert WORKERS_LIVE.name() == "workers:live"


@pytest.mark.parametrize("bad", ["", "a b", "x{y}", "line\nbreak", "nul\x00", "x" * 600])
def test_a_parameter_that_could_reach_into_another_key_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid key parameter worker_id"):
        WORKER_STATUS.name(worker_id=bad)


def test_a_heartbeat_is_read_as_its_dto() -> None:
    written = WorkerHeartbeat(state=WorkerActivity.BUSY, task_id="t-1", at=1.5)
    assert WORKER_HEARTBEAT.parse(written.model_dump_json()) == written


def test_a_status_hash_is_read_as_its_dto_leaving_out_empty_and_private_fields() -> None:
    status = WORKER_STATUS.parse(
        {
            "worker_id": "po-1",
            "worker_type": "po",
            "state": "RUNNING",
            "updated_at": "2026-12-01T00:00:00+00:00",
            "exit_code": "",
            "handle": "1234",
        }
    )
    assert (status.state, status.exit_code) == (WorkerState.RUNNING, None)


def test_every_key_pattern_is_registered_once_and_described() -> None:
    patterns = [spec.pattern for spec in KEYS]
    assert len(patterns) == len(set(patterns))
    assert all(spec.description and spec.lifetime and spec.writers for spec in KEYS)
