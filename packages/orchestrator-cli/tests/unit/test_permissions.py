"""ALLOWED_COMMANDS: patterns, wildcards, profiles, and the unset policy."""

from __future__ import annotations

import pytest
from orchestrator_cli.app import COMMANDS
from orchestrator_cli.permissions import expand, is_allowed


@pytest.mark.parametrize(
    ("allowed", "command", "expected"),
    [
        ("project.get", "project.get", True),
        ("project.get", "project.list", False),
        ("project.*", "project.create", True),
        ("project.*", "projects.create", False),
        ("deploy.*", "deploy.start", True),
        ("*", "diagnose.redis", True),
        ("respond", "respond", True),
        ("project.get, infra.*", "infra.incidents", True),
        ("project.get, infra.*", "deploy.start", False),
        ("engineering.st*", "engineering.status", True),
        ("engineering.st*", "engineering.wait", False),
    ],
)
def test_patterns_match_group_dot_command(allowed: str, command: str, expected: bool) -> None:
    assert is_allowed(command, expand(allowed)) is expected


@pytest.mark.parametrize("unset", [None, "", " , "])
def test_an_unset_list_allows_nothing(unset: str | None) -> None:
    assert expand(unset) == ()
    assert not any(is_allowed(c, expand(unset)) for c in COMMANDS)


def test_product_owner_may_run_every_command() -> None:
    assert all(is_allowed(c, expand("PRODUCT_OWNER")) for c in COMMANDS)


def test_developer_may_only_read_projects_check_engineering_and_respond() -> None:
    allowed = {c for c in COMMANDS if is_allowed(c, expand("DEVELOPER"))}
    assert allowed == {"project.get", "project.list", "engineering.status", "respond"}


def test_devops_may_deploy_see_infra_and_respond() -> None:
    allowed = {c for c in COMMANDS if is_allowed(c, expand("devops"))}
    assert allowed == {
        "project.get",
        "deploy.start",
        "deploy.status",
        "deploy.cancel",
        "infra.servers",
        "infra.incidents",
        "respond",
    }


def test_only_those_who_may_start_a_task_may_cancel_it() -> None:
    for profile in ("PRODUCT_OWNER", "DEVELOPER", "DEVOPS"):
        patterns = expand(profile)
        for kind in ("engineering", "deploy"):
            assert is_allowed(f"{kind}.cancel", patterns) is is_allowed(f"{kind}.start", patterns)


def test_profiles_and_patterns_mix() -> None:
    patterns = expand("DEVELOPER,diagnose.*")
    assert is_allowed("diagnose.api", patterns)
    assert is_allowed("project.list", patterns)
    assert not is_allowed("deploy.start", patterns)


def test_every_command_of_the_cli_has_its_scopes_and_redis_rights_in_the_one_table() -> None:
    from orchestrator_cli.app import COMMANDS
    from shared.permissions import COMMANDS as TABLE

    assert set(COMMANDS) == set(TABLE)
