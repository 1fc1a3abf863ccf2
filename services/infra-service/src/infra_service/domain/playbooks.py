"""Which playbook a job runs."""

from __future__ import annotations

from enum import StrEnum


class Action(StrEnum):
    PROVISION = "provision"
    DEPLOY = "deploy"


def select_playbook(action: Action, *, is_local: bool) -> str:
    """The local machine is never set up like a server: it only gets a deploy root."""
    if action is Action.DEPLOY:
        return "deploy_project.yml"
    return "setup_local.yml" if is_local else "setup_server.yml"
