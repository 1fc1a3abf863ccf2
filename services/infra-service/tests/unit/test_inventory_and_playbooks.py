from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
from infra_service.domain.inventory import (
    HOST,
    InvalidTarget,
    Target,
    build_inventory,
    check_target,
)
from infra_service.domain.playbooks import Action, select_playbook

REMOTE = Target("s1", "web-1", "203.0.113.7", is_local=False, ssh_user="deploy", ssh_port=2222)
LOCAL = Target("s0", "local", "127.0.0.1", is_local=True)


def inventory(target: Target) -> dict[str, object]:
    built = build_inventory(target, known_hosts=Path("/data/known_hosts"), connect_timeout_s=7)
    hosts = built["all"]["hosts"]
    assert list(hosts) == [HOST], "an inventory holds exactly one host"
    host: dict[str, object] = hosts[HOST]
    return host


def test_a_remote_server_is_reached_over_ssh_with_its_user_and_port() -> None:
    host = inventory(REMOTE)

    assert host["ansible_connection"] == "ssh"
    assert host["ansible_host"] == "203.0.113.7"
    assert host["ansible_port"] == 2222
    assert host["ansible_user"] == "deploy"
    assert host["ansible_timeout"] == 7


def test_host_keys_are_trusted_on_first_use_and_checked_afterwards() -> None:
    args = str(inventory(REMOTE)["ansible_ssh_common_args"])

    assert "StrictHostKeyChecking=accept-new" in args
    assert "UserKnownHostsFile=/data/known_hosts" in args
    assert "BatchMode=yes" in args


def test_no_key_file_is_named_the_key_is_in_the_jobs_agent() -> None:
    assert "ansible_ssh_private_key_file" not in inventory(REMOTE)


def test_the_local_target_runs_modules_with_our_own_interpreter_and_no_ssh() -> None:
    host = inventory(LOCAL)

    assert host == {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}


@pytest.mark.parametrize(
    ("action", "is_local", "playbook"),
    [
        (Action.PROVISION, False, "setup_server.yml"),
        (Action.PROVISION, True, "setup_local.yml"),
        (Action.DEPLOY, False, "deploy_project.yml"),
        (Action.DEPLOY, True, "deploy_project.yml"),
    ],
)
def test_the_playbook_follows_the_action_and_the_target(
    action: Action, is_local: bool, playbook: str
) -> None:
    assert select_playbook(action, is_local=is_local) == playbook


def test_every_selectable_playbook_exists() -> None:
    playbooks = Path(__file__).parents[2] / "src" / "infra_service" / "ansible"
    for action in Action:
        for is_local in (True, False):
            assert (playbooks / select_playbook(action, is_local=is_local)).is_file()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("address", "-oProxyCommand=touch /tmp/x"),
        ("address", "{{ lookup('pipe', 'id') }}"),
        ("address", "host name"),
        ("ssh_user", "-oProxyCommand=x"),
        ("ssh_user", "root@evil"),
        ("name", "{{ x }}"),
    ],
)
def test_a_server_that_could_inject_into_ssh_or_ansible_is_refused(field: str, value: str) -> None:
    server = Target(server_id="s1", name="web-1", address="10.0.0.1", is_local=False)
    with pytest.raises(InvalidTarget):
        check_target(dataclasses.replace(server, **{field: value}))  # type: ignore[arg-type]
    assert check_target(server) == server
    assert check_target(dataclasses.replace(server, address="fe80::1%eth0")).name == "web-1"
