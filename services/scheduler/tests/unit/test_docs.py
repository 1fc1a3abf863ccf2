"""docs/SCHEDULER.md stays true: every setting and every job is described there."""

from __future__ import annotations

from pathlib import Path

import pytest
from scheduler.bootstrap import build_adapters, jobs
from scheduler.config import SchedulerSettings

DOC = Path(__file__).resolve().parents[4] / "docs" / "SCHEDULER.md"


@pytest.mark.parametrize("field", sorted(SchedulerSettings.model_fields))
def test_every_setting_is_in_the_table(field: str) -> None:
    assert f"| `{field.upper()}` |" in DOC.read_text()


async def test_every_job_has_its_section() -> None:
    settings = SchedulerSettings(
        redis_url="redis://127.0.0.1:1/0", api_url="http://127.0.0.1:1", server_provider="local"
    )
    adapters = build_adapters(settings)
    try:
        names = [job.name for job in jobs(settings, adapters)]
    finally:
        await adapters.redis.aclose()
        await adapters.http.aclose()

    assert len(names) == 6
    for name in names:
        assert f"(`{name}`, " in DOC.read_text(), name
