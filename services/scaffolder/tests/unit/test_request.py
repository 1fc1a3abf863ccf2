"""What a scaffolding request may ask for, and the commit that marks a repository as scaffolded."""

from __future__ import annotations

import pytest
from scaffolder.domain.commits import Occupied, check_existing, commit_message, scaffolded_project
from scaffolder.domain.request import BadRequest, copier_answers, repository_name


@pytest.mark.parametrize(
    ("modules", "rendered"),
    [
        (["backend"], ["backend"]),
        (["telegram"], ["telegram"]),
        (["telegram", "backend"], ["backend", "telegram"]),
    ],
)
def test_modules_become_the_templates_answers_in_its_order(
    modules: list[str], rendered: list[str]
) -> None:
    assert copier_answers("todo", "A list", modules) == {
        "project_name": "todo",
        "project_description": "A list",
        "modules": rendered,
    }


@pytest.mark.parametrize(
    ("modules", "error"),
    [
        (["backend", "frontend"], r"unknown module\(s\) \['frontend'\]"),
        (["backend", "backend"], "asked for twice"),
        ([], "no module"),
    ],
)
def test_unknown_repeated_or_missing_modules_are_refused(modules: list[str], error: str) -> None:
    with pytest.raises(BadRequest, match=error):
        copier_answers("todo", "", modules)


@pytest.mark.parametrize("name", ["Todo", "-todo", "todo-", "to_do", "a" * 64, "", "x.git", "a/b"])
def test_a_name_that_is_not_a_repository_name_is_refused(name: str) -> None:
    with pytest.raises(BadRequest, match="not a valid repository name"):
        repository_name(name)


def test_the_scaffold_commit_names_its_project() -> None:
    message = commit_message("todo", "p-1", "r-1")
    assert scaffolded_project(message) == "p-1"
    assert scaffolded_project("Initial commit") is None


def test_an_empty_repository_is_filled_and_its_own_scaffold_is_kept() -> None:
    assert check_existing(None, "p-1", "todo") is False
    assert check_existing(commit_message("todo", "p-1", "r-9"), "p-1", "todo") is True


@pytest.mark.parametrize("head", ["Initial commit", commit_message("todo", "p-2", "r-1")])
def test_a_repository_holding_anything_else_is_refused(head: str) -> None:
    with pytest.raises(Occupied, match="holds something else"):
        check_existing(head, "p-1", "todo")
