"""The git helpers every cube's tests share."""

from __future__ import annotations

from pathlib import Path

from shared.testing.git import bare_repo, branch_head, commit, file_at, git, work_tree


def test_a_bare_repository_holds_one_commit_on_main(tmp_path: Path) -> None:
    bare = bare_repo(tmp_path, {"app.py": "print(1)\n"})

    assert branch_head(bare, "main") is not None
    assert branch_head(bare, "feature") is None
    assert file_at(bare, "main", "app.py") == "print(1)"
    assert bare_repo(tmp_path) == bare


def test_a_work_tree_takes_further_commits(tmp_path: Path) -> None:
    repo = work_tree(tmp_path / "repo")
    sha = commit(repo, {"VERSION": "2\n"}, "version 2")

    assert git(repo, "rev-parse", "HEAD") == sha
    assert file_at(repo, sha, "VERSION") == "2"
    assert git(repo, "log", "--format=%s") == "version 2\ninitial"
