"""Playbooks run by ansible-runner in a worker thread, each in its own private directory."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import ansible_runner
import yaml

from infra_service.domain.inventory import build_inventory
from infra_service.domain.results import RunOutcome, RunStatus
from infra_service.ports import PlaybookJob

PLAYBOOKS_DIR = Path(__file__).resolve().parent.parent / "ansible"
# What the Ansible process may inherit from infra-service; its settings (the API key) stay here.
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR", "USER", "LOGNAME", "TZ")
_RUNNER_PREFIXES = ("ANSIBLE_", "AWX_", "RUNNER_", "ORIGINAL_STDOUT_CALLBACK", "AD_HOC_")


class AnsibleRunnerPlaybooks:
    def __init__(
        self,
        *,
        jobs_dir: Path,
        known_hosts: Path,
        timeout_s: float,
        connect_timeout_s: int,
        playbooks_dir: Path = PLAYBOOKS_DIR,
    ) -> None:
        self._jobs_dir = jobs_dir
        self._known_hosts = known_hosts
        self._timeout_s = timeout_s
        self._connect_timeout_s = connect_timeout_s
        self._playbooks_dir = playbooks_dir

    async def run(self, job: PlaybookJob) -> RunOutcome:
        # Everything from the job's directories to reading its events runs in a worker thread:
        # the event loop only waits.
        return await asyncio.to_thread(self._run_in_private_dirs, job)

    def _run_in_private_dirs(self, job: PlaybookJob) -> RunOutcome:
        self._jobs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._known_hosts.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        private = Path(tempfile.mkdtemp(prefix="job-", dir=self._jobs_dir))
        # SSH's control sockets need a short path (a Unix socket's is at most 107 bytes).
        sockets = Path(tempfile.mkdtemp(prefix="cg-ssh-"))
        try:
            return self._run(job, private, sockets)
        except Exception as exc:
            # ansible-runner could not even start the playbook: a failed run, reported as such.
            return RunOutcome(
                RunStatus.FAILED, None, failures=(f"ansible-runner could not run: {exc}",)
            )
        finally:
            shutil.rmtree(private, ignore_errors=True)
            shutil.rmtree(sockets, ignore_errors=True)

    def _run(self, job: PlaybookJob, private: Path, sockets: Path) -> RunOutcome:
        inventory = build_inventory(
            job.target,
            known_hosts=self._known_hosts,
            connect_timeout_s=self._connect_timeout_s,
        )
        (private / "inventory").mkdir(mode=0o700)
        _write_private(private / "inventory" / "hosts.yml", yaml.safe_dump(inventory))
        (private / "env").mkdir(mode=0o700)
        # A file, so the variables are not on ansible-playbook's command line either.
        _write_private(private / "env" / "extravars", json.dumps(job.extravars))
        runner = ansible_runner.interface.init_runner(
            private_data_dir=str(private),
            project_dir=str(self._playbooks_dir),
            playbook=job.playbook,
            inventory=str(private / "inventory" / "hosts.yml"),
            envvars={
                "ANSIBLE_NOCOLOR": "1",
                "ANSIBLE_LOCAL_TEMP": str(private / "tmp"),
                "ANSIBLE_SSH_CONTROL_PATH_DIR": str(sockets),
                "ANSIBLE_PIPELINING": "1",
                "ANSIBLE_HOST_KEY_CHECKING": "True",
                **job.secret_env,
            },
            # The key goes to an ssh-agent through a FIFO: it is never written to a file.
            ssh_key=job.ssh_key.rstrip("\n") + "\n" if job.ssh_key else None,
            quiet=True,
            suppress_env_files=True,
            timeout=int(self._timeout_s),
            ident="run",
        )
        runner.config.env = _confined(runner.config.env, job.secret_env)
        runner.run()
        return _outcome(runner)


def _confined(env: dict[str, str], secret_env: dict[str, str]) -> dict[str, str]:
    confined = {
        name: value
        for name, value in env.items()
        if name in _INHERITED or name.startswith(_RUNNER_PREFIXES) or name in secret_env
    }
    # The ansible-playbook installed with us, whatever PATH infra-service was started with.
    confined["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), env.get("PATH", "/usr/local/bin:/usr/bin:/bin")]
    )
    return confined


def _write_private(path: Path, text: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _outcome(runner: Any) -> RunOutcome:
    failures: list[str] = []
    unreachable = False
    facts: dict[str, str] = {}
    for event in runner.events:
        data = event.get("event_data", {})
        result = data.get("res") or {}
        if event.get("event") == "runner_on_unreachable":
            unreachable = True
            failures.append(f"{data.get('task', 'connect')}: {result.get('msg', 'unreachable')}")
        elif event.get("event") == "runner_on_failed" and not data.get("ignore_errors"):
            failures.append(f"{data.get('task', 'task')}: {_message(result)}")
        elif event.get("event") == "runner_on_ok" and isinstance(result.get("ansible_facts"), dict):
            published = result["ansible_facts"].get("codegen_result")
            if isinstance(published, dict):
                facts |= {str(k): str(v) for k, v in published.items()}
    stats = runner.stats or {}
    if stats.get("dark"):
        unreachable = True
    status = {
        "successful": RunStatus.SUCCESSFUL,
        "timeout": RunStatus.TIMEOUT,
        "canceled": RunStatus.CANCELED,
    }.get(runner.status, RunStatus.FAILED)
    if status is RunStatus.FAILED and unreachable:
        status = RunStatus.UNREACHABLE
    changed = sum((stats.get("changed") or {}).values())
    return RunOutcome(
        status=status,
        exit_code=runner.rc,
        stdout=_read(runner, "stdout"),
        stderr=_read(runner, "stderr"),
        failures=tuple(failures),
        changed=changed,
        facts=facts,
    )


def _message(result: dict[str, Any]) -> str:
    if result.get("censored"):
        return str(result["censored"])
    parts = [str(result.get("msg") or "")]
    for stream in ("stderr", "stdout"):
        lines = str(result.get(stream) or "").strip().splitlines()
        if lines:
            parts.append(lines[-1])
            break
    return " — ".join(p for p in parts if p)[:500] or "failed"


def _read(runner: Any, name: str) -> str:
    try:
        handle = getattr(runner, name)
    except (AttributeError, OSError):
        return ""
    try:
        return str(handle.read())
    finally:
        handle.close()
