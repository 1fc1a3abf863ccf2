"""Git repositories for tests: a work tree with commits, a bare one as a forge would hold it."""

from __future__ import annotations

import subprocess
from pathlib import Path

AUTHOR = ("-c", "user.name=test", "-c", "user.email=test@example.com")


def git(repo: Path, *args: str) -> str:
    """Run git in `repo`; its output, stripped. Fails the test on a non-zero exit."""
    return subprocess.run(
        ["git", "-C", str(repo), *AUTHOR, *args], check=True, capture_output=True, text=True
    ).stdout.strip()


def work_tree(path: Path, files: dict[str, str] | None = None, message: str = "initial") -> Path:
    """A repository at `path` on `main` with one commit of `files` (a README if none)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    commit(path, files or {"README.md": "# project\n"}, message)
    return path


def commit(repo: Path, files: dict[str, str], message: str) -> str:
    """Write `files` (relative path → text) into `repo`, commit them all; the new commit's sha."""
    for name, text in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def bare_repo(root: Path, files: dict[str, str] | None = None) -> Path:
    """`root/origin.git`: a bare repository with one commit on `main` (reused if it exists)."""
    bare = root / "origin.git"
    if not bare.exists():
        seed = work_tree(root / "seed", files)
        subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(bare)], check=True)
    return bare


def branch_head(bare: Path, branch: str) -> str | None:
    """The commit `branch` points at, or None when there is no such branch."""
    done = subprocess.run(
        ["git", "-C", str(bare), "rev-parse", "--verify", "-q", f"refs/heads/{branch}"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def file_at(repo: Path, revision: str, path: str) -> str:
    """The text of `path` at `revision`."""
    return git(repo, "show", f"{revision}:{path}")
