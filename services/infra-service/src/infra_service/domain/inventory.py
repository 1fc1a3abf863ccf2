"""The inventory of one job: exactly one host, the target server."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "target"
# What an inventory may carry: Ansible templates inventory values and ssh reads a leading dash as
# an option, so a server record with anything else (the API does not restrict it) is refused.
_ADDRESS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:%-]{0,254}")
_USER = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")
_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


class InvalidTarget(Exception):
    """A server whose address, user or name could be read as an option or a template."""


def check_target(target: Target) -> Target:
    for field, value, valid in (
        ("address", target.address, _ADDRESS),
        ("ssh user", target.ssh_user, _USER),
        ("name", target.name, _NAME),
    ):
        if not valid.fullmatch(value):
            shown = value[:100]
            raise InvalidTarget(f"server {target.server_id}: its {field} {shown!r} is invalid")
    return target


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
