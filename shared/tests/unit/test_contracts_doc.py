"""docs/CONTRACTS.md is generated from the registry and the DTOs, and must not go stale."""

from __future__ import annotations

from pathlib import Path

from shared.contracts_doc import render

DOC = Path(__file__).resolve().parents[3] / "docs" / "CONTRACTS.md"


def test_the_committed_contracts_document_matches_the_code() -> None:
    assert DOC.read_text() == render(), "docs/CONTRACTS.md is stale: run `make contracts`"


def test_the_document_names_every_stream_and_its_dto() -> None:
    text = render()
    assert "| `worker:developer:output` | [DeveloperWorkerOutput]" in text
    assert "### AnsibleDeployMessage" in text
    assert "`draft` → `archived`, `failed`, `scaffolding`" in text
