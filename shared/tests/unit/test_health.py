"""The heartbeat file: `codegen-health` judges it by its age; the runtime writes it atomically,
every interval, only while the service is whole, and removes it when the service stops."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from shared.health import main, write_health_file
from shared.runtime import Lifetime, keep_health_file
from shared.settings import ServiceSettings
from structlog.testing import capture_logs


def health(
    capsys: pytest.CaptureFixture[str], *argv: str, environ: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    code = main(list(argv), environ={} if environ is None else environ)
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return code, json.loads(lines[0])


def aged(path: Path, seconds: float) -> Path:
    path.write_text("{}\n")
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


def test_a_fresh_file_is_healthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = aged(tmp_path / "health", 0)

    code, said = health(capsys, environ={"HEALTH_FILE": str(path)})

    assert (code, said["healthy"], sorted(said)) == (0, True, ["age_s", "healthy"])


def test_a_file_older_than_three_intervals_and_a_margin_is_unhealthy_with_its_age(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = aged(tmp_path / "health", 60)

    code, said = health(capsys, environ={"HEALTH_FILE": str(path)})  # at most 3 * 5 + 5 s

    assert (code, said["healthy"]) == (1, False)
    assert said["age_s"] >= 60
    assert "old" in said["reason"]


def test_the_oldest_healthy_age_follows_the_interval_or_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = aged(tmp_path / "health", 30)

    assert health(capsys, "--file", str(path))[0] == 1  # 20 s by default
    assert health(capsys, "--file", str(path), environ={"HEALTH_INTERVAL_S": "60"})[0] == 0
    assert health(capsys, "--file", str(path), "--max-age", "3600")[0] == 0
    assert health(capsys, "--file", str(path), "--max-age", "10")[0] == 1


def test_a_missing_file_is_unhealthy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, said = health(capsys, environ={"HEALTH_FILE": str(tmp_path / "health")})

    assert (code, said["healthy"]) == (1, False)
    assert said["reason"] == f"no health file at {tmp_path / 'health'}"


def test_without_a_health_file_named_nothing_is_healthy(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, said = health(capsys, environ={"HEALTH_FILE": ""})

    assert (code, said) == (
        1,
        {"healthy": False, "reason": "no HEALTH_FILE set and no --file given"},
    )


@pytest.mark.parametrize(
    ("argv", "environ"),
    [(["--max-age", "-1"], {}), (["--bogus"], {}), ([], {"HEALTH_INTERVAL_S": "soon"})],
)
def test_a_bad_flag_or_interval_is_unhealthy_and_exits_1_never_dockers_reserved_2(
    argv: list[str], environ: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = aged(tmp_path / "health", 0)

    code, said = health(capsys, "--file", str(path), *argv, environ=environ)

    assert (code, said["healthy"]) == (1, False)


def test_the_health_settings_default_to_no_file_every_5_s_and_refuse_a_zero_interval() -> None:
    fields = ServiceSettings.model_fields
    assert (fields["health_file"].default, fields["health_interval_s"].default) == (None, 5.0)
    with pytest.raises(ValidationError):
        ServiceSettings(health_interval_s=0)


def test_the_file_is_replaced_whole_never_rewritten_in_place(tmp_path: Path) -> None:
    path = tmp_path / "health"
    write_health_file(path, "probe")
    first = path.stat().st_ino

    write_health_file(path, "probe")

    assert path.stat().st_ino != first
    assert os.listdir(tmp_path) == ["health"]
    record = json.loads(path.read_text())
    assert (record["service"], record["pid"], sorted(record)) == (
        "probe",
        os.getpid(),
        ["pid", "service", "time"],
    )


def test_a_write_that_fails_leaves_no_temporary_file_behind(tmp_path: Path) -> None:
    path = tmp_path / "health"
    (path / "occupied").mkdir(parents=True)  # a directory the file cannot replace

    with pytest.raises(OSError):
        write_health_file(path, "probe")

    assert os.listdir(tmp_path) == ["health"]


class Ticks(Lifetime):
    """A lifetime whose sleeps return at once, noting how long each was asked to be and whether
    the beat before it wrote the file (then taking it away, to see the next beat write it); the
    service is asked to stop at the `beats`-th."""

    def __init__(self, path: Path, beats: int) -> None:
        super().__init__()
        self.path, self.beats = path, beats
        self.slept: list[float] = []
        self.written: list[bool] = []

    async def sleep(self, seconds: float) -> bool:
        self.slept.append(seconds)
        self.written.append(self.path.exists())
        if len(self.slept) == self.beats:
            self.stop()
        elif self.written[-1]:
            self.path.unlink()
        return self.stopping.is_set()


def answers(*values: bool) -> Iterator[bool]:
    yield from values


async def test_the_file_is_rewritten_once_every_interval_and_removed_at_the_stop(
    tmp_path: Path,
) -> None:
    path = tmp_path / "health"
    ticks = Ticks(path, beats=3)

    await keep_health_file(
        path, service="probe", interval_s=7.5, lifetime=ticks, alive=lambda: True
    )

    assert ticks.slept == [7.5, 7.5, 7.5]
    assert ticks.written == [True, True, True]
    assert not path.exists()


async def test_once_a_consumer_or_task_has_ended_the_file_is_no_longer_touched(
    tmp_path: Path,
) -> None:
    path = tmp_path / "health"
    ticks = Ticks(path, beats=4)
    alive = answers(True, True, False, False)

    await keep_health_file(
        path, service="probe", interval_s=1, lifetime=ticks, alive=lambda: next(alive)
    )

    assert ticks.written == [True, True, False, False]


async def test_a_service_already_stopping_writes_no_file(tmp_path: Path) -> None:
    path = tmp_path / "health"
    ticks = Ticks(path, beats=1)
    ticks.stop()

    await keep_health_file(path, service="probe", interval_s=1, lifetime=ticks, alive=lambda: True)

    assert (ticks.slept, path.exists()) == ([], False)


async def test_a_file_that_cannot_be_written_is_one_warning_and_the_beats_go_on(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("")
    path = tmp_path / "a-file" / "health"
    ticks = Ticks(path, beats=3)

    with capture_logs() as logs:
        await keep_health_file(
            path, service="probe", interval_s=1, lifetime=ticks, alive=lambda: True
        )

    warnings = [entry for entry in logs if entry["log_level"] == "warning"]
    assert [entry["event"] for entry in warnings] == ["cannot write the health file"]
    assert warnings[0]["path"] == str(path)
    assert len(ticks.slept) == 3
