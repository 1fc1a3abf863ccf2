"""Whether a server answers: one `ssh … true` in batch mode, the server's key in an ssh-agent of
the check's own (handed over on a pipe, never in a file or argv); the `local` machine, by looking
at what a deploy on it needs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra_service.domain.health import Probe
from infra_service.domain.inventory import Target

# What ssh may inherit from infra-service; its settings (the API key) stay here. HOME: the
# user's ssh configuration applies as it does to deploys (Ansible runs the same ssh).
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "USER", "LOGNAME", "TZ")
STDERR_CHARS = 1000


class OpenSshProbes:
    def __init__(self, *, known_hosts: Path, connect_timeout_s: int) -> None:
        self._known_hosts = known_hosts
        self._connect_timeout_s = connect_timeout_s

    @property
    def time_limit_s(self) -> float:
        """A whole attempt's limit: the connect timeout covers the connection and the
        handshake; logging in and running `true` take moments more."""
        return self._connect_timeout_s * 2 + 5

    async def ssh(self, target: Target, ssh_key: str | None) -> Probe:
        # Unix socket paths are short: the agent's lives right under the temporary directory.
        private = Path(await asyncio.to_thread(tempfile.mkdtemp, prefix="cg-health-"))
        agent: asyncio.subprocess.Process | None = None
        try:
            env = _confined(os.environ)
            if ssh_key is not None:
                agent = await _start_agent(private / "agent.sock", env)
                env["SSH_AUTH_SOCK"] = str(private / "agent.sock")
                loaded = await self._add_key(ssh_key, env)
                if loaded is not None:
                    return loaded
            await asyncio.to_thread(
                self._known_hosts.parent.mkdir, parents=True, exist_ok=True, mode=0o700
            )
            return await self._login(target, env)
        except OSError as exc:
            # No ssh here means no deploy either: the check says so rather than failing.
            return Probe(False, f"ssh could not be run here: {exc}")
        finally:
            if agent is not None:
                await _end(agent)
            await asyncio.to_thread(shutil.rmtree, private, True)

    async def _add_key(self, ssh_key: str, env: dict[str, str]) -> Probe | None:
        """None once the agent holds the key; otherwise why it could not."""
        add = await asyncio.create_subprocess_exec(
            "ssh-add", "-q", "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            # No controlling terminal: a key with a passphrase fails instead of asking for it.
            start_new_session=True,
        )  # fmt: skip
        try:
            _, err = await asyncio.wait_for(
                add.communicate((ssh_key.rstrip("\n") + "\n").encode()), self.time_limit_s
            )
        except TimeoutError:
            return Probe(False, "the server's SSH key could not be loaded in time")
        finally:
            await _end(add)
        if add.returncode != 0:
            return Probe(False, f"the server's SSH key could not be loaded: {_last_line(err)}")
        return None

    async def _login(self, target: Target, env: dict[str, str]) -> Probe:
        argv = [
            "ssh",
            "-o", "BatchMode=yes",
            # Trust on first use, in the file deploys use: a changed host key is refused.
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={self._known_hosts}",
            "-o", f"ConnectTimeout={self._connect_timeout_s}",
            "-o", "ConnectionAttempts=1",
            "-o", "LogLevel=ERROR",
            "-p", str(target.ssh_port),
            "-l", target.ssh_user,
            "--", target.address,
            "true",
        ]  # fmt: skip
        ssh = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        try:
            _, err = await asyncio.wait_for(ssh.communicate(), self.time_limit_s)
        except TimeoutError:
            return Probe(False, f"ssh did not finish within {self.time_limit_s:g} s")
        finally:
            await _end(ssh)
        if ssh.returncode == 0:
            return Probe(True)
        return Probe(False, _last_line(err) or f"ssh exited with {ssh.returncode}")

    async def local(self, deploy_root: Path, programs: Sequence[Path]) -> Probe:
        return await asyncio.to_thread(_usable_locally, deploy_root, programs)


def _usable_locally(deploy_root: Path, programs: Sequence[Path]) -> Probe:
    existing = deploy_root
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return Probe(False, f"the deploy root {deploy_root} is not a directory ({existing})")
    # access() also answers EROFS for a directory on a read-only file system.
    if not os.access(existing, os.W_OK | os.X_OK):
        return Probe(False, f"the deploy root {deploy_root} cannot be written ({existing})")
    for program in programs:
        if not (program.is_file() and os.access(program, os.X_OK)):
            return Probe(False, f"{program} is missing or cannot be run")
    return Probe(True)


def _confined(environ: Mapping[str, str]) -> dict[str, str]:
    return {name: value for name, value in environ.items() if name in _INHERITED}


async def _start_agent(socket: Path, env: dict[str, str]) -> asyncio.subprocess.Process:
    agent = await asyncio.create_subprocess_exec(
        "ssh-agent", "-D", "-a", str(socket),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env=env,
        start_new_session=True,
    )  # fmt: skip
    assert agent.stdout is not None
    try:
        # Its first line (where it listens) comes once the socket is bound.
        await asyncio.wait_for(agent.stdout.readline(), 10)
    except BaseException:
        await _end(agent)
        raise
    return agent


async def _end(process: asyncio.subprocess.Process) -> None:
    """Kill the process unless it ended, and reap it (also when the check is cancelled)."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _last_line(output: bytes | None) -> str:
    lines = (output or b"").decode(errors="replace").strip().splitlines()
    return lines[-1][:STDERR_CHARS] if lines else ""
