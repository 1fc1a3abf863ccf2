"""Which git failures another attempt cannot get past: git's own messages, produced by running
git (through the wrapper's `GitCli`, so each is the GitError text the handlers see)."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from shared.contracts import OutcomeStatus
from shared.testing.git import bare_repo
from worker_wrapper.adapters.git_cli import GitCli
from worker_wrapper.domain import task
from worker_wrapper.ports import GitError

GIT = GitCli(author_name="test", author_email="test@example.com")


async def clone_error(url: str, dest: Path) -> str:
    with pytest.raises(GitError) as failed:
        await GIT.clone(url, "main", dest)
    return str(failed.value)


class _Answers(http.server.BaseHTTPRequestHandler):
    """Answers every request with the status its path starts with (`/404/x.git` → 404)."""

    def do_GET(self) -> None:
        code = int(self.path.split("/")[1])
        self.send_response(code)
        if code == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="forge"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def forge() -> Iterator[str]:
    """An HTTP server answering git with a chosen status: its base URL."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Answers)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_a_local_path_that_does_not_exist_is_no_repository(tmp_path: Path) -> None:
    error = await clone_error(str(tmp_path / "missing"), tmp_path / "repo")
    assert "does not exist" in error
    assert task.repository_missing(error)


async def test_a_file_url_to_a_missing_path_is_no_repository(tmp_path: Path) -> None:
    error = await clone_error(f"file://{tmp_path}/missing", tmp_path / "repo")
    assert "does not appear to be a git repository" in error
    assert task.repository_missing(error)


async def test_a_directory_that_is_no_repository_is_none_either_way(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    for url in (str(tmp_path / "plain"), f"file://{tmp_path}/plain"):
        assert task.repository_missing(await clone_error(url, tmp_path / "repo"))


async def test_an_http_404_is_no_repository(tmp_path: Path, forge: str) -> None:
    error = await clone_error(f"{forge}/404/project.git", tmp_path / "repo")
    assert "not found" in error
    assert task.repository_missing(error)


@pytest.mark.parametrize("code", [500, 502, 503, 401, 403])
async def test_server_errors_and_refused_credentials_may_pass(
    tmp_path: Path, forge: str, code: int
) -> None:
    # 401 and 403: a token that expired or lacks a permission yet; the next worker's may not.
    error = await clone_error(f"{forge}/{code}/project.git", tmp_path / "repo")
    assert not task.repository_missing(error), error


async def test_an_unreachable_server_may_come_back(tmp_path: Path) -> None:
    error = await clone_error(f"http://127.0.0.1:{closed_port()}/project.git", tmp_path / "repo")
    assert "connect" in error.lower()
    assert not task.repository_missing(error)


async def test_a_commit_the_repository_does_not_hold_may_come_with_the_next_attempt(
    tmp_path: Path,
) -> None:
    bare = bare_repo(tmp_path)
    with pytest.raises(GitError) as failed:
        await GIT.check_out(str(bare), "ab" * 20, tmp_path / "repo")
    assert "is not in the repository" in str(failed.value)
    assert not task.repository_missing(str(failed.value))


def test_githubs_answer_over_ssh_for_a_repository_it_does_not_have() -> None:
    # GitHub's server, not git, says this (docs.github.com, "Error: Repository not found").
    error = (
        "git clone failed: ERROR: Repository not found.\n"
        "fatal: Could not read from remote repository.\n\n"
        "Please make sure you have the correct access rights\nand the repository exists."
    )
    assert task.repository_missing(error)
    # The same last lines follow a refused key or connection: they alone decide nothing.
    assert not task.repository_missing(error.replace("ERROR: Repository not found.", ""))


async def test_a_missing_repository_fails_the_task_at_once_with_a_clear_error(
    tmp_path: Path,
) -> None:
    error = await clone_error(str(tmp_path / "missing"), tmp_path / "repo")
    outcome = task.git_failed(error)
    assert (outcome.status, outcome.retryable) == (OutcomeStatus.ERROR, False)
    assert outcome.error == f"{task.NO_REPOSITORY}: {error}"


def test_any_other_git_failure_is_an_error_another_attempt_may_get_past() -> None:
    outcome = task.git_failed("git clone failed: fatal: unable to access", commit_sha="c0ffee")
    assert outcome == task.Outcome(
        OutcomeStatus.ERROR, "git clone failed: fatal: unable to access", commit_sha="c0ffee"
    )
    assert outcome.retryable


def test_a_git_error_loses_any_password_in_its_url() -> None:
    outcome = task.git_failed("fatal: repository 'https://u:hunter2@forge/x.git/' not found")
    assert "hunter2" not in str(outcome.error)
    assert not outcome.retryable
