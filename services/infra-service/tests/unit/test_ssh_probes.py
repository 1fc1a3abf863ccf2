"""The local machine's health: a deploy could run there when its deploy root can be made or
written and the supervisor's programs can be run."""

from __future__ import annotations

from pathlib import Path

import pytest
from infra_service.adapters.ssh_probes import OpenSshProbes
from infra_service.domain.health import Probe


@pytest.fixture
def supervisor(tmp_path: Path) -> list[Path]:
    programs = [tmp_path / "bin" / "supervisord", tmp_path / "bin" / "supervisorctl"]
    programs[0].parent.mkdir()
    for program in programs:
        program.write_text("#!/bin/sh\n")
        program.chmod(0o755)
    return programs


def probes(tmp_path: Path) -> OpenSshProbes:
    return OpenSshProbes(known_hosts=tmp_path / "known_hosts", connect_timeout_s=1)


async def test_a_deploy_root_that_exists_answers(tmp_path: Path, supervisor: list[Path]) -> None:
    (tmp_path / "deploy").mkdir()

    assert await probes(tmp_path).local(tmp_path / "deploy", supervisor) == Probe(True)


async def test_a_deploy_root_not_made_yet_answers_when_it_can_be(
    tmp_path: Path, supervisor: list[Path]
) -> None:
    probe = await probes(tmp_path).local(tmp_path / "data" / "deploy", supervisor)

    assert probe == Probe(True)
    assert not (tmp_path / "data").exists(), "a check makes nothing"


async def test_a_file_where_the_deploy_root_should_be_does_not_answer(
    tmp_path: Path, supervisor: list[Path]
) -> None:
    (tmp_path / "deploy").write_text("")

    probe = await probes(tmp_path).local(tmp_path / "deploy" / "root", supervisor)

    assert not probe.answered
    assert "is not a directory" in (probe.error or "")


async def test_a_missing_supervisor_program_does_not_answer(
    tmp_path: Path, supervisor: list[Path]
) -> None:
    supervisor[1].unlink()

    probe = await probes(tmp_path).local(tmp_path, supervisor)

    assert not probe.answered
    assert "supervisorctl is missing" in (probe.error or "")
