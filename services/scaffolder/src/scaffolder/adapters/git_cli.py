"""git as a subprocess, off the event loop: a clean environment (no user or system config, no
prompt, only the protocols a forge uses), `--` before every positional, credentials only in the
environment the forge gives, and a time limit on every command."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from scaffolder.ports import Author, GitFailed

ALLOWED_PROTOCOLS = "file:http:https:ssh"
TAIL_CHARS = 600


class GitCli:
    def __init__(self, *, timeout_s: float = 300.0) -> None:
        self._timeout_s = timeout_s

    async def clone(self, url: str, destination: Path, env: dict[str, str]) -> None:
        await self._git(
            destination.parent, "clone", "--quiet", "--no-hardlinks", "--", url, str(destination),
            env=env,
        )  # fmt: skip

    async def head_message(self, work_tree: Path, branch: str) -> str | None:
        ref = f"refs/remotes/origin/{branch}" if branch != "FETCH_HEAD" else branch
        exists = await self._try(work_tree, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        if exists is None:
            return None
        return await self._git(work_tree, "log", "-1", "--format=%B", ref, "--")

    async def fetch_head_message(
        self, work_tree: Path, url: str, branch: str, env: dict[str, str]
    ) -> str | None:
        fetched = await self._try(
            work_tree, "fetch", "--quiet", "--", url, f"refs/heads/{branch}", env=env
        )
        if fetched is None:
            return None
        return await self._git(work_tree, "log", "-1", "--format=%B", "FETCH_HEAD", "--")

    async def commit_all(self, work_tree: Path, branch: str, message: str, author: Author) -> str:
        identity = {
            "GIT_AUTHOR_NAME": author.name,
            "GIT_AUTHOR_EMAIL": author.email,
            "GIT_COMMITTER_NAME": author.name,
            "GIT_COMMITTER_EMAIL": author.email,
        }
        await self._git(work_tree, "checkout", "--quiet", "-B", branch)
        await self._git(work_tree, "add", "--all", "--", ".")
        await self._git(work_tree, "commit", "--quiet", "--no-verify", "-m", message, env=identity)
        return await self.head_sha(work_tree, branch)

    async def push(self, work_tree: Path, url: str, branch: str, env: dict[str, str]) -> None:
        await self._git(
            work_tree, "push", "--quiet", "--", url, f"refs/heads/{branch}:refs/heads/{branch}",
            env=env,
        )  # fmt: skip

    async def head_sha(self, work_tree: Path, branch: str) -> str:
        ref = branch if branch == "FETCH_HEAD" else f"refs/heads/{branch}"
        found = await self._try(work_tree, "rev-parse", "--verify", "--quiet", ref)
        if found is None:
            found = await self._git(work_tree, "rev-parse", "--verify", f"origin/{branch}")
        return found.strip()

    async def count_files(self, work_tree: Path, branch: str) -> int:
        ref = branch if branch == "FETCH_HEAD" else f"origin/{branch}"
        local = await self._try(work_tree, "rev-parse", "--verify", "--quiet", branch)
        listing = await self._git(
            work_tree, "ls-tree", "-r", "--name-only", branch if local else ref, "--"
        )
        return len([line for line in listing.splitlines() if line])

    async def _git(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
        found = await self._run(cwd, *args, env=env, check=True)
        assert found is not None
        return found

    async def _try(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> str | None:
        """The command's output, or None when it fails."""
        return await self._run(cwd, *args, env=env, check=False)

    async def _run(
        self, cwd: Path, *args: str, env: dict[str, str] | None, check: bool
    ) -> str | None:
        full_env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(cwd),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_CONFIG_GLOBAL": os.devnull,
            "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
            "LC_ALL": "C",
            **(env or {}),
        }
        process = await asyncio.create_subprocess_exec(
            "git",
            *args,
            cwd=cwd,
            env=full_env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), self._timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise GitFailed(f"git {args[0]} took longer than {self._timeout_s} s") from None
        except BaseException:
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        if process.returncode != 0:
            if not check:
                return None
            tail = err.decode(errors="replace").strip()[-TAIL_CHARS:]
            raise GitFailed(f"git {args[0]} exited {process.returncode}: {tail}")
        return out.decode(errors="replace")
