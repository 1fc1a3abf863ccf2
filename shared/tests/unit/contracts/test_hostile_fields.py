"""Fields that reach URLs, argv, file names or Redis keys refuse what could be read as something
else: options, shell, traversal, control characters."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from shared.contracts import AnsibleDeployMessage, EngineeringMessage
from shared.streams.registry import REGISTRY
from shared.streams.wire import InvalidEntry, decode

DEPLOY = {
    "task_id": "t1",
    "project_id": "p1",
    "project_name": "todo",
    "repo_full_name": "acme/todo",
    "commit_sha": "a" * 40,
    "server": "local",
    "port": 8080,
}


@pytest.mark.parametrize(
    "repo",
    [
        "acme/todo",
        "https://forge.example/acme/todo.git",
        "ssh://git@forge.example:22/acme/todo.git",
        "file:///srv/repos/todo.git",
        "/var/lib/codegen/repos/todo.git",
    ],
)
def test_repositories_of_every_supported_form_are_accepted(repo: str) -> None:
    assert AnsibleDeployMessage(**{**DEPLOY, "repo_full_name": repo}).repo_full_name == repo


@pytest.mark.parametrize(
    "repo",
    [
        "--upload-pack=touch /tmp/x #://x",
        "-oProxyCommand=touch /tmp/x",
        "ssh://-oProxyCommand=touch%20x/repo",
        "ext::sh -c touch% /tmp/x",
        "acme/todo; touch /tmp/x",
        "acme/../../etc",
        "/srv/../etc/passwd",
        "https://h/a/../b",
        "acme/todo\n",
        "acme/\x00todo",
        "",
        "a" * 2000,
    ],
)
def test_repositories_that_could_be_read_as_options_or_commands_are_refused(repo: str) -> None:
    with pytest.raises(ValidationError):
        AnsibleDeployMessage(**{**DEPLOY, "repo_full_name": repo})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("commit_sha", "--output=/tmp/x"),
        ("commit_sha", "HEAD"),
        ("server", "n" * 64),
        ("server", "a\x00b"),
        ("server", "-h"),
        ("project_id", "../servers"),
        ("project_id", "-rf"),
        ("project_id", "a b"),
        ("modules", ["--all"]),
        ("secrets_ref", "file:../../etc/shadow"),
        ("secrets_ref", "env:PATH;touch"),
        ("github_token_ref", "file:/etc/shadow"),
    ],
)
def test_deploy_fields_refuse_hostile_values(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        AnsibleDeployMessage(**{**DEPLOY, field: value})


def test_a_nul_character_in_any_text_of_a_message_is_refused() -> None:
    with pytest.raises(ValidationError):
        EngineeringMessage(task_id="t", project_id="p", user_id="u", callback_stream="a\x00b")


@pytest.mark.parametrize(
    ("field", "value"), [("port", True), ("port", "8080"), ("port", 8080.0), ("version", 2)]
)
def test_the_wire_coerces_nothing(field: str, value: object) -> None:
    body = json.dumps({**DEPLOY, field: value})
    with pytest.raises(InvalidEntry):
        decode({"data": body}, REGISTRY.resolve("ansible:deploy:queue").adapter)
