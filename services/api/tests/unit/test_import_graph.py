"""What the API imports: nothing that leaves its database, and no cycle between its packages."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict

import grimp
import pytest

Edges = dict[str, set[str]]


def test_the_api_imports_nothing_that_reaches_outside_its_database() -> None:
    probe = (
        "import sys, pkgutil, importlib, api\n"
        "for m in pkgutil.walk_packages(api.__path__, 'api.'):\n"
        "    if not m.name.startswith(('api.migrations.env', 'api.migrations.versions')):\n"
        "        importlib.import_module(m.name)\n"
        "print('\\n'.join(sorted(sys.modules)))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    forbidden = (
        "redis",
        "github",
        "httpx",
        "requests",
        "aiohttp",
        "urllib3",
        "docker",
        "ansible_runner",
        "shared.streams",
        "paramiko",
        "telegram",
        "aiogram",
    )
    reached = [m for m in loaded if m.split(".")[0] in forbidden or m.startswith(forbidden)]
    assert reached == []
    assert "api.app" in loaded
    assert "sqlalchemy.ext.asyncio" in loaded


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("api", cache_dir=None)


def _top(module: str) -> str | None:
    """`api.auth.principal` → `api.auth`; the root package itself is no node."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else None


def package_edges(graph: grimp.ImportGraph) -> Edges:
    """Which of the API's top-level packages and modules import which others."""
    edges: Edges = defaultdict(set)
    for importer in graph.modules:
        for imported in graph.find_modules_directly_imported_by(importer):
            source, target = _top(importer), _top(imported)
            if source and target and source != target:
                edges[source].add(target)
    return edges


def cycles(edges: Edges) -> list[list[str]]:
    """The groups of nodes that reach each other (Tarjan's strongly connected components)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(set(edges) | {t for targets in edges.values() for t in targets}):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_direct_and_indirect_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"a"}}) == [["a", "b"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "d": {"a", "c"}}) == []


def test_no_two_of_the_apis_packages_import_each_other(graph: grimp.ImportGraph) -> None:
    edges = package_edges(graph)
    # The graph is the real one: resources depend on auth, the composition root on resources.
    assert "api.auth" in edges["api.users"]
    assert "api.users" in edges["api.app"]

    def imports_between(members: list[str]) -> list[str]:
        return sorted(
            f"{importer} -> {imported}"
            for importer in graph.modules
            for imported in graph.find_modules_directly_imported_by(importer)
            if _top(importer) in members
            and _top(imported) in members
            and _top(importer) != _top(imported)
        )

    assert {" <-> ".join(c): imports_between(c) for c in cycles(edges)} == {}


def test_auth_imports_no_resource(graph: grimp.ImportGraph) -> None:
    """Every resource asks auth who is calling, so auth may depend on nothing above it."""
    allowed = {"api.auth", "api.db", "api.errors", "api.repository"}
    assert sorted(package_edges(graph)["api.auth"] - allowed) == []
