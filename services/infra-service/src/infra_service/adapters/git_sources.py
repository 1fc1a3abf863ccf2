"""Fetching one commit with git and packing its tree, with the token kept out of argv."""

from __future__ import annotations

import asyncio
import os
import tarfile
from pathlib import Path

from infra_service.domain.sources import ALLOWED_PROTOCOLS, SourceUnavailable

# Every argument built from a message comes after `--` (or `--end-of-options` where `--` would
# mean paths), so git never reads it as an option, even if the domain's checks let one through.
# git asks this program for credentials; the token comes from its environment, never its argv.
_ASKPASS = """#!/bin/sh
case "$1" in
  Username*) printf '%s\\n' x-access-token ;;
  *) printf '%s\\n' "$CODEGEN_GIT_TOKEN" ;;
esac
"""
_SUBCOMMANDS = ("init", "fetch", "rev-parse", "archive")


class GitSources:
    def __init__(self, timeout_s: float = 300) -> None:
        self._timeout_s = timeout_s

    async def archive(self, repo_url: str, commit: str, dest: Path, token: str | None) -> Path:
        work = dest.parent / "checkout"
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(dest.parent),
            "GIT_TERMINAL_PROMPT": "0",
            "GIT_CONFIG_NOSYSTEM": "1",
            # Never `ext::` or `fd::`, whatever URL reaches us: those run commands.
            "GIT_ALLOW_PROTOCOL": ALLOWED_PROTOCOLS,
        }
        askpass = dest.parent / "askpass" if token else None
        await asyncio.to_thread(_prepare, work, askpass)
        if askpass and token:
            env |= {"GIT_ASKPASS": str(askpass), "CODEGEN_GIT_TOKEN": token}
        await self._git(env, "init", "-q", "--", str(work))
        fetched = await self._git(
            env, "-C", str(work), "fetch", "-q", "--depth", "1", "--", repo_url, commit, check=False
        )
        if not fetched:
            # Servers that refuse a fetch by (abbreviated) id still serve their branches and tags.
            await self._git(
                env,
                "-C",
                str(work),
                "fetch",
                "-q",
                "--",
                repo_url,
                "+refs/heads/*:refs/remotes/origin/*",
                "+refs/tags/*:refs/tags/*",
            )
        full = await self._git(
            env,
            "-C",
            str(work),
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{commit}^{{commit}}",
            check=False,
        )
        if not full:
            raise SourceUnavailable(f"commit {commit} is not in {_safe(repo_url)}")
        archive = dest.with_name(f"{full}.tar.gz")
        await self._git(
            env,
            "-C",
            str(work),
            "archive",
            "--format=tar.gz",
            "-o",
            str(archive),
            "--end-of-options",
            full,
        )
        return archive

    async def read_file(self, archive: Path, name: str) -> str | None:
        return await asyncio.to_thread(_read_member, archive, name)

    async def _git(self, env: dict[str, str], *args: str, check: bool = True) -> str:
        try:
            process = await asyncio.create_subprocess_exec(
                "git",
                "-c",
                "credential.helper=",
                *args,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise SourceUnavailable(f"git cannot run: {exc.strerror}") from None
        try:
            out, err = await asyncio.wait_for(process.communicate(), self._timeout_s)
        except TimeoutError:
            process.kill()
            await process.wait()
            command = next((a for a in args if a in _SUBCOMMANDS), "git")
            raise SourceUnavailable(f"git {command} timed out") from None
        if process.returncode != 0:
            if not check:
                return ""
            message = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            command = next((a for a in args if a in _SUBCOMMANDS), "git")
            raise SourceUnavailable(f"git {command} failed: {_safe(message[0])}")
        return out.decode().strip() or "ok"


def _prepare(work: Path, askpass: Path | None) -> None:
    work.mkdir(mode=0o700)
    if askpass:
        askpass.write_text(_ASKPASS)
        askpass.chmod(0o700)


def _read_member(archive: Path, name: str) -> str | None:
    with tarfile.open(archive) as tar:
        try:
            member = tar.extractfile(name)
        except KeyError:
            return None
        return None if member is None else member.read().decode()


def _safe(url: str) -> str:
    """A URL without any user information."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme}{sep}{rest.rpartition('@')[2]}" if sep else url
