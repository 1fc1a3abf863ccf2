"""git, run by the wrapper itself (never trusted to the agent): clone, read the commit, push;
for a test run, check a commit out and read a file of it.

The clone is the agent's to work in (its user's, when it runs as another), so what git would
take from it — the repository's config, its hooks — is the agent's word: the wrapper's git runs
no hook and no fsmonitor there, and pushes from a repository of its own, into which it fetched
the agent's HEAD (upload-pack is safe on a repository one does not trust), to the URL it cloned.

A token for the remote (GIT_TOKEN) reaches git through a credential helper that answers for the
cloned URL's host only, from git's own environment: never in a URL, argv, a file or a log.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import shlex
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from worker_wrapper.adapters.isolation import Isolation
from worker_wrapper.ports import GitError

# A file read from a commit (the project file) larger than this is refused, not read.
MAX_FILE_BYTES = 1024 * 1024
# Config of the command line's scope, above the repository's: the agent owns the repository (git's
# ownership check would refuse it), and nothing of it runs as the wrapper.
PROTECTED_CONFIG = {
    "safe.directory": "*",
    "core.hooksPath": os.devnull,
    "core.fsmonitor": "false",
}
# Where the helper finds the token: the environment of the wrapper's git (and so the helper's).
TOKEN_VARIABLE = "CODEGEN_GIT_TOKEN"  # noqa: S105 (a name, not a value)
# Run by git's shell with `get`, `store` or `erase`; only `get` is answered. printf is the shell's
# own: the token is on no command line.
CREDENTIAL_HELPER = (
    '!f() { test "$1" = get || return 0; '
    f'printf "username=x-access-token\\npassword=%s\\n" "${TOKEN_VARIABLE}"; }}; f'
)


@functools.cache
def _wrapper_global_config() -> Path:
    """The wrapper's own global git config, in a file only it can write: the protected settings
    again, for the local clone's upload-pack, which git starts without the command line's
    config (GIT_CONFIG_COUNT is cleared for it). Its source, a local forge's repository, belongs
    to another user (scaffolder's) than the wrapper: without `safe.directory` there, git refuses
    it as of dubious ownership."""
    handle, path = tempfile.mkstemp(prefix="codegen-wrapper-", suffix=".gitconfig")
    with os.fdopen(handle, "w") as config:
        for key, value in PROTECTED_CONFIG.items():
            section, variable = key.split(".")
            config.write(f"[{section}]\n\t{variable} = {value}\n")
    return Path(path)


class GitCli:
    """The `Git` port, by the git command line."""

    def __init__(
        self,
        *,
        author_name: str,
        author_email: str,
        token: str = "",
        isolation: Isolation | None = None,
    ) -> None:
        self._author = (author_name, author_email)
        self._isolation = isolation or Isolation()
        self._origins: dict[Path, str] = {}
        self._token = token
        self._config = dict(PROTECTED_CONFIG)
        self._env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/"),
            "GIT_TERMINAL_PROMPT": "0",
            # Only transports that run no command of the URL's choosing.
            "GIT_ALLOW_PROTOCOL": "file:git:http:https:ssh",
        }
        if self._isolation.user is not None:
            # HOME may be the agent's: its ~/.gitconfig is not the wrapper's, this is.
            self._env["GIT_CONFIG_GLOBAL"] = str(_wrapper_global_config())
        if token:
            self._env[TOKEN_VARIABLE] = token
        self._set_config()

    def _set_config(self) -> None:
        """The command line's config, through git's environment."""
        self._env["GIT_CONFIG_COUNT"] = str(len(self._config))
        for number, (key, value) in enumerate(self._config.items()):
            self._env[f"GIT_CONFIG_KEY_{number}"] = key
            self._env[f"GIT_CONFIG_VALUE_{number}"] = value

    def _answer_credentials_for(self, url: str) -> None:
        """The token for `url`'s host (http or https) only: no other helper, no other host."""
        parts = urlsplit(url)
        if not self._token or parts.scheme not in ("http", "https") or not parts.hostname:
            return
        # An empty helper first empties the list the system's config may have begun.
        self._config["credential.helper"] = ""
        host = parts.netloc.rpartition("@")[2]
        self._config[f"credential.{parts.scheme}://{host}.helper"] = CREDENTIAL_HELPER
        self._set_config()

    async def _git(self, *args: str, cwd: Path | None = None, strip: bool = True) -> str:
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=self._env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate()
        if process.returncode != 0:
            raise GitError(f"git {args[0]} failed: {err.decode(errors='replace').strip()[-1000:]}")
        text = out.decode(errors="replace")
        return text.strip() if strip else text

    async def clone(self, url: str, branch: str, dest: Path) -> str:
        """Clone `url` into `dest` on `branch` (created from the default branch if new);
        returns the commit the work starts from."""
        self._answer_credentials_for(url)
        # `--` before every positional argument: a value can never be read as an option.
        await self._git("clone", "--quiet", "--", url, str(dest))
        self._origins[dest] = url
        remote = await self._git("ls-remote", "--heads", "origin", branch, cwd=dest)
        if remote:
            await self._git("checkout", "--quiet", branch, cwd=dest)
        else:
            await self._git("checkout", "--quiet", "-b", branch, cwd=dest)
        await self._git("config", "user.name", self._author[0], cwd=dest)
        await self._git("config", "user.email", self._author[1], cwd=dest)
        self._isolation.hand_over(dest)
        return await self.head(dest)

    async def check_out(self, url: str, commit: str, dest: Path) -> str:
        """Clone `url` into `dest` with `commit` checked out, detached; its full sha. A commit
        that no branch holds is asked of the remote by name (servers that allow it answer)."""
        self._answer_credentials_for(url)
        await self._git("clone", "--quiet", "--no-checkout", "--", url, str(dest))
        found = await self._commit(dest, commit)
        if found is None:
            with contextlib.suppress(GitError):
                await self._git("fetch", "--quiet", "origin", commit, cwd=dest)
            found = await self._commit(dest, commit)
        if found is None:
            raise GitError(f"commit {commit} is not in the repository")
        await self._git("checkout", "--quiet", "--detach", found, cwd=dest)
        self._isolation.hand_over(dest)  # the project's commands run as the agent does
        return found

    async def _commit(self, repo: Path, name: str) -> str | None:
        try:
            return await self._git(
                "rev-parse",
                "--verify",
                "--quiet",
                "--end-of-options",
                f"{name}^{{commit}}",
                cwd=repo,
            )
        except GitError:
            return None

    async def read_file(self, repo: Path, path: str) -> str | None:
        """`path` in HEAD's tree, from git's objects: a symbolic link gives its target's name,
        never the file it points at."""
        entry = await self._git("ls-tree", "-l", "HEAD", "--", path, cwd=repo)
        if not entry:
            return None
        kind, size = entry.split()[1], entry.split()[3]
        if kind != "blob":
            return None
        if int(size) > MAX_FILE_BYTES:
            raise GitError(f"{path} is larger than {MAX_FILE_BYTES} bytes")
        return await self._git("cat-file", "blob", f"HEAD:{path}", cwd=repo, strip=False)

    async def head(self, repo: Path) -> str:
        return await self._git("rev-parse", "HEAD", cwd=repo)

    async def push(self, repo: Path, branch: str) -> None:
        """The agent's HEAD, taken into a repository of the wrapper's own and pushed from there
        to the URL `repo` was cloned from (the agent may have changed its remotes)."""
        url = self._origins.get(repo)
        if url is None:
            raise GitError(f"git push failed: {repo} was not cloned by this worker")
        # Local fetches run upload-pack with a clean environment: it is told about safe.directory.
        upload_pack = f"git -c safe.directory={shlex.quote(str(repo / '.git'))} upload-pack"
        with tempfile.TemporaryDirectory(prefix="wrapper-push-") as private:
            mine = Path(private)
            await self._git("init", "--quiet", "--bare", str(mine))
            await self._git(
                "fetch",
                "--quiet",
                "--no-tags",
                f"--upload-pack={upload_pack}",
                "--",
                str(repo),
                "HEAD",
                cwd=mine,
            )
            commit = await self._git("rev-parse", "FETCH_HEAD", cwd=mine)
            await self._git("push", "--quiet", "--", url, f"{commit}:refs/heads/{branch}", cwd=mine)

    async def is_tracked(self, repo: Path, path: str) -> bool:
        try:
            await self._git("ls-files", "--error-unmatch", "--", path, cwd=repo)
        except GitError:
            return False
        return True

    async def ignore_locally(self, repo: Path, path: str) -> None:
        exclude = repo / ".git" / "info" / "exclude"
        exclude.parent.mkdir(parents=True, exist_ok=True)
        with exclude.open("a") as handle:
            handle.write(f"\n/{path}\n")
