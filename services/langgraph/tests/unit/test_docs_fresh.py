"""docs/LANGGRAPH.md is generated from the graphs, the request ids and the settings, and must not
go stale."""

from __future__ import annotations

from pathlib import Path

from langgraph_service.diagram import graphs, node_names, render

DOC = Path(__file__).resolve().parents[4] / "docs" / "LANGGRAPH.md"


def test_the_committed_langgraph_document_matches_the_code() -> None:
    assert DOC.read_text() == render(), (
        "docs/LANGGRAPH.md is stale: run `make docs` (python -m langgraph_service.diagram)"
    )


def test_the_document_draws_and_describes_every_node_of_both_graphs() -> None:
    text = render()
    assert text.count("```mermaid") == 2
    for graph in graphs().values():
        for node in node_names(graph):
            assert f"- `{node}`: " in text


def test_the_document_names_the_request_ids_and_every_setting() -> None:
    text = render()
    assert "| `{task_id}.a{n}.develop` | develop |" in text
    assert "| `MAX_ATTEMPTS` | `3` |" in text
    assert "| `CRASH_AT` | empty |" in text
