"""LocalForge with real git: a repository under the forge's directory is there while git can read
it; whatever else a project's URL says never reaches git and cannot be told."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from scheduler.adapters.local_forge import LocalForge
from shared.testing.git import work_tree
from shared.testing.hostile import PATHS, command_strings

GIT = shutil.which("git") or "/usr/bin/git"


def bare_repository(path: Path) -> Path:
    subprocess.run(
        ["git", "init", "--quiet", "--bare", "--initial-branch=main", "--", str(path)], check=True
    )
    return path


def with_a_commit(path: Path) -> Path:
    """A bare repository at `path` holding one commit on main."""
    seed = work_tree(path.parent.parent / f"{path.name}-seed")
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(path)], check=True)
    return path


def removed(path: Path) -> None:
    path.rmdir()


def forge_in_a_checkout_whose_config_git_dies_on(checkout: Path) -> Path:
    work_tree(checkout)
    with (checkout / ".git" / "config").open("a") as config:
        config.write("[broken\n")
    root = checkout / ".data" / "repositories"
    root.mkdir(parents=True)
    return root


def script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "forge"
    path.mkdir()
    return path


@pytest.fixture
def record(tmp_path: Path) -> Path:
    return tmp_path / "git-calls"


@pytest.fixture
def forge(root: Path, record: Path, tmp_path: Path) -> LocalForge:
    """The forge with a git that writes down each call's arguments, then runs the real one."""
    recording = script(
        tmp_path / "git",
        f"for a in \"$@\"; do printf '%s\\037' \"$a\" >> '{record}'; done\n"
        f"printf '\\n' >> '{record}'\n"
        f'exec {GIT} "$@"\n',
    )
    return LocalForge(root, timeout_s=30, git=str(recording))


def calls(record: Path) -> list[list[str]]:
    if not record.exists():
        return []
    return [line.split("\x1f")[:-1] for line in record.read_text().splitlines() if line]


async def test_a_bare_repository_under_the_forge_is_there_by_its_path_or_its_file_url(
    forge: LocalForge, root: Path, record: Path
) -> None:
    repository = bare_repository(root / "shop.git")

    assert await forge.repository_exists(str(repository)) is True
    assert await forge.repository_exists(f"file://{repository}") is True
    assert (
        calls(record)
        == [["-c", f"core.hooksPath={os.devnull}", "ls-remote", "--", str(repository)]] * 2
    )


async def test_a_repository_with_commits_is_there(forge: LocalForge, root: Path) -> None:
    repository = with_a_commit(root / "blog.git")

    assert await forge.repository_exists(str(repository)) is True


async def test_a_deleted_repository_is_gone(forge: LocalForge, root: Path) -> None:
    repository = bare_repository(root / "shop.git")
    shutil.rmtree(repository)

    assert await forge.repository_exists(str(repository)) is False
    assert await forge.repository_exists(str(root / "never-was.git")) is False


async def test_a_directory_git_cannot_read_as_a_repository_is_gone(
    forge: LocalForge, root: Path
) -> None:
    (root / "emptied.git").mkdir()
    broken = bare_repository(root / "broken.git")
    (broken / "HEAD").unlink()

    assert await forge.repository_exists(str(root / "emptied.git")) is False
    assert await forge.repository_exists(str(broken)) is False


@pytest.mark.parametrize(
    "url",
    [
        "ssh://example.com/shop.git",
        "https://github.com/acme/shop.git",
        "git://example.com/shop.git",
        "example.com:shop.git",
        "ext::sh -c touch% /tmp/x",
        "fd::3",
        "file://example.com/srv/shop.git",
        "relative/shop.git",
        "",
    ],
)
async def test_a_url_that_is_no_local_path_is_not_ours_to_check(
    forge: LocalForge, record: Path, url: str
) -> None:
    assert await forge.repository_exists(url) is None
    assert calls(record) == []


async def test_paths_outside_the_forge_are_not_ours_to_check(
    forge: LocalForge, root: Path, record: Path, tmp_path: Path
) -> None:
    outside = bare_repository(tmp_path / "elsewhere.git")
    (root / "link.git").symlink_to(outside)

    for url in [
        str(outside),
        f"file://{outside}",
        f"{root}/../elsewhere.git",
        str(root / "link.git"),
        str(root),
        *PATHS,
    ]:
        assert await forge.repository_exists(url) is None, url
    assert calls(record) == []


async def test_hostile_urls_never_reach_git(
    forge: LocalForge, root: Path, record: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    bare_repository(root / "shop.git")
    hostile = [
        *command_strings(marker),
        f"-u touch {marker}",
        f"--upload-pack=touch {marker}",
        f"{root}/shop.git\n--upload-pack=touch {marker}",
        f"{root}/shop.git\x00--upload-pack=touch {marker}",
        f"file://{root}/shop.git%0a--upload-pack=touch%20{marker}",
        f"file://{root}/shop.git?--upload-pack=touch",
        "x" * 5000,
    ]

    for url in hostile:
        assert await forge.repository_exists(url) is None, url

    assert calls(record) == []
    assert not marker.exists()


async def test_without_its_directory_the_forge_cannot_tell(
    root: Path, record: Path, tmp_path: Path
) -> None:
    repository = root / "shop.git"
    removed(root)

    assert await LocalForge(root).repository_exists(str(repository)) is None
    assert await LocalForge(None).repository_exists(str(repository)) is None


async def test_git_failing_for_another_reason_cannot_tell(root: Path, tmp_path: Path) -> None:
    repository = bare_repository(root / "shop.git")
    refusing = script(
        tmp_path / "git",
        "echo \"fatal: detected dubious ownership in repository at '$5'\" >&2\nexit 128\n",
    )

    assert await LocalForge(root, git=str(refusing)).repository_exists(str(repository)) is None


async def test_git_past_its_time_limit_cannot_tell_and_is_stopped(
    root: Path, tmp_path: Path
) -> None:
    repository = bare_repository(root / "shop.git")
    pid_file = tmp_path / "git.pid"
    hanging = script(tmp_path / "git", f"echo $$ > '{pid_file}'\nexec sleep 600\n")

    found = await LocalForge(root, timeout_s=0.5, git=str(hanging)).repository_exists(
        str(repository)
    )

    assert found is None
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


async def test_a_forge_inside_a_checkout_never_reads_the_checkouts_config(
    tmp_path: Path,
) -> None:
    root = forge_in_a_checkout_whose_config_git_dies_on(tmp_path / "checkout")
    repository = bare_repository(root / "shop.git")

    assert await LocalForge(root).repository_exists(str(repository)) is True
