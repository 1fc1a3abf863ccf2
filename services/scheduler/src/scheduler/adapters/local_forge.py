"""`Forge` on the local forge: the bare repositories scaffolder keeps in LOCAL_FORGE_DIR. A
project's `repository_url` there is the repository's absolute path (scaffolder records
`LOCAL_FORGE_DIR/<name>.git`, resolved); a `file://` URL of one is read too.

A repository exists when git can read it: `git ls-remote` run as a child process (never a
shell), with a time limit, without the system's or the user's config, no prompt, hooks pointed
nowhere, only the `file` protocol allowed, and `--` before the path. Only a path under the
forge's directory (after following links) ever reaches git: anything else (another scheme, an
option, `ext::`, a path elsewhere) is "not ours to check" (None). A path that is not there, or
that git says is no repository, is gone (False); git failing otherwise (timed out, refusing the
repository's owner) is "cannot tell" (None), and so is a forge directory that is not there at
all: an unmounted disk is not every repository vanishing at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
from pathlib import Path
from urllib.parse import unquote, urlsplit

import structlog

log = structlog.get_logger("scheduler")

MAX_URL_CHARS = 4096
TAIL_CHARS = 300
NOT_A_REPOSITORY = "does not appear to be a git repository"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")
# `scheme:` (ssh://, http://, ext::, fd::) or scp's `host:path`: a remote, never a local path.
_REMOTE = re.compile(r"^[^/]*:")


class LocalForge:
    """`root` None: no forge directory is configured, and no repository can be told."""

    def __init__(self, root: Path | None, *, timeout_s: float = 60.0, git: str = "git") -> None:
        self._root = root.resolve() if root is not None else None
        self._warned = False
        self._timeout_s = timeout_s
        self._git = git

    async def aclose(self) -> None:
        """Nothing to close (the service closes every adapter it made)."""

    async def repository_exists(self, repository: str) -> bool | None:
        root = self._root
        if root is None:
            if not self._warned:
                log.warning("LOCAL_FORGE_DIR is not set: no repository can be told")
                self._warned = True
            return None
        path, answer = await asyncio.to_thread(self._locate, root, repository)
        if path is None:
            return answer
        found = await self._readable(root, path)
        if found is None and not await asyncio.to_thread(path.exists):
            return False  # deleted while git was reading it
        return found

    def _locate(self, root: Path, repository: str) -> tuple[Path | None, bool | None]:
        """(the path to ask git about, None), or (None, the answer without asking git)."""
        path = self.path_of(repository)
        if path is None:
            return None, None
        try:
            if not root.is_dir():
                log.warning("the local forge's directory is not there", root=str(root))
                return None, None
            if not path.exists():
                return None, False
        except OSError as exc:
            log.warning("cannot look at a repository", repository=str(path), error=exc.strerror)
            return None, None
        return path, None

    def path_of(self, repository: str) -> Path | None:
        """The repository's path if `repository` names one under the forge's directory; None
        for anything else, which git must never see."""
        if self._root is None or not repository or len(repository) > MAX_URL_CHARS:
            return None
        if _UNSAFE.search(repository) or repository.startswith("-"):
            return None
        text = repository
        if text.lower().startswith("file://"):
            parts = urlsplit(text)
            if parts.netloc not in ("", "localhost") or parts.query or parts.fragment:
                return None
            text = unquote(parts.path)
            if _UNSAFE.search(text):
                return None
        elif _REMOTE.match(text):
            return None
        if not os.path.isabs(text):
            return None
        try:
            path = Path(text).resolve()
        except (OSError, RuntimeError, ValueError):
            return None
        if path == self._root or not path.is_relative_to(self._root):
            return None
        return path

    async def _readable(self, root: Path, path: Path) -> bool | None:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(root),
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_ASKPASS": "",
            "SSH_ASKPASS": "",
            "GIT_ALLOW_PROTOCOL": "file",
            # git runs in the forge's directory, which is no repository: it must not take one
            # around it (a checkout holding the data directory) for its own and read its config.
            "GIT_CEILING_DIRECTORIES": str(root.parent),
            "LC_ALL": "C",
        }
        argv = [self._git, "-c", f"core.hooksPath={os.devnull}", "ls-remote", "--", str(path)]
        process = await asyncio.create_subprocess_exec(
            *argv,
            cwd=root,
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,  # its upload-pack child is stopped with it
        )
        try:
            _, err = await asyncio.wait_for(process.communicate(), self._timeout_s)
        except TimeoutError:
            log.warning("git took too long to read a repository", repository=str(path))
            return None
        finally:
            if process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                await process.wait()
        if process.returncode == 0:
            return True
        stderr = err.decode(errors="replace")
        if NOT_A_REPOSITORY in stderr:
            return False
        log.warning(
            "git could not read a repository",
            repository=str(path),
            exit_code=process.returncode,
            stderr=stderr.strip()[-TAIL_CHARS:],
        )
        return None
