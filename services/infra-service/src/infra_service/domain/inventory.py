"""The inventory of one job: exactly one host, the target server."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "target"


@dataclass(frozen=True)
class Target:
    """Where a playbook runs: the `local` machine or a server reached over SSH."""

    server_id: str
    name: str
    address: str
    is_local: bool
    ssh_user: str = "root"
    ssh_port: int = 22


def build_inventory(
    target: Target,
    *,
    known_hosts: Path,
    connect_timeout_s: int,
) -> dict[str, Any]:
    """An inventory that can reach `target` and nothing else (its key is in the job's ssh-agent)."""
    if target.is_local:
        host: dict[str, Any] = {
            "ansible_connection": "local",
            # The local target runs modules with the interpreter infra-service runs on.
            "ansible_python_interpreter": sys.executable,
        }
    else:
        ssh_args = [
            # Trust on first use, remembered per infra-service: a changed host key is refused.
            "-o StrictHostKeyChecking=accept-new",
            f"-o UserKnownHostsFile={known_hosts}",
            "-o BatchMode=yes",
        ]
        host = {
            "ansible_connection": "ssh",
            "ansible_host": target.address,
            "ansible_port": target.ssh_port,
            "ansible_user": target.ssh_user,
            "ansible_ssh_common_args": " ".join(ssh_args),
            "ansible_timeout": connect_timeout_s,
            "ansible_python_interpreter": "auto_silent",
        }
    return {"all": {"hosts": {HOST: host}, "vars": {"server_name": target.name}}}
