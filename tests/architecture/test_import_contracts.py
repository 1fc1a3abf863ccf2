"""The cubes' import rules hold, and would catch a handler that reaches past its ports."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
STREAM_CUBES = {
    "worker_manager": ROOT / "services/worker-manager/src/worker_manager",
    "worker_wrapper": ROOT / "packages/worker-wrapper/src/worker_wrapper",
    "infra_service": ROOT / "services/infra-service/src/infra_service",
    "scaffolder": ROOT / "services/scaffolder/src/scaffolder",
    "langgraph_service": ROOT / "services/langgraph/src/langgraph_service",
    "telegram_bot": ROOT / "services/telegram-bot/src/telegram_bot",
    "scheduler": ROOT / "services/scheduler/src/scheduler",
}


def lint_imports(pythonpath: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / "pyproject.toml"), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_every_import_contract_is_kept() -> None:
    checked = lint_imports()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "BROKEN" not in checked.stdout


@pytest.mark.parametrize("cube", sorted(STREAM_CUBES))
def test_a_handler_that_imports_an_adapter_breaks_a_contract(cube: str, tmp_path: Path) -> None:
    copy = tmp_path / cube
    shutil.copytree(STREAM_CUBES[cube], copy, ignore=shutil.ignore_patterns("__pycache__"))
    handler = sorted((copy / "handlers").glob("[a-z]*.py"))[0]
    adapter = sorted((copy / "adapters").glob("[a-z]*.py"))[0]
    handler.write_text(handler.read_text() + f"\nimport {cube}.adapters.{adapter.stem}  # noqa\n")

    checked = lint_imports(pythonpath=tmp_path)

    assert checked.returncode != 0
    assert "Handlers and domain reach the world only through ports BROKEN" in checked.stdout
    assert f"{cube}.handlers.{handler.stem} -> {cube}.adapters.{adapter.stem}" in checked.stdout


@pytest.mark.parametrize("cube", sorted(STREAM_CUBES))
def test_handlers_and_domain_read_no_environment(cube: str) -> None:
    readers = [
        f"{path.relative_to(ROOT)}:{number}"
        for layer in ("handlers", "domain")
        for path in sorted((STREAM_CUBES[cube] / layer).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\bos\.(environ|getenv)\b|\bgetenv\(", line)
    ]
    assert readers == []


def test_the_local_stack_importing_a_service_breaks_a_contract(tmp_path: Path) -> None:
    copy = tmp_path / "codegen_stack"
    source = ROOT / "packages/stack/src/codegen_stack"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("__pycache__"))
    services = copy / "services.py"
    services.write_text(services.read_text() + "\nimport langgraph_service.config  # noqa\n")

    checked = lint_imports(pythonpath=tmp_path)

    assert checked.returncode != 0
    assert "The local stack imports no cube BROKEN" in checked.stdout
