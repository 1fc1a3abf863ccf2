"""Repository sync's rules: what a check's answer leads to, which projects are checked, and what
an incident says."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from scheduler.domain import repositories
from scheduler.domain.repositories import Action
from shared.contracts import ProjectRead, ProjectStatus


def project(**fields: Any) -> ProjectRead:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": "a" * 32,
        "name": "shop",
        "description": "",
        "status": ProjectStatus.SCAFFOLDED,
        "modules": ["backend"],
        "repository_url": "/srv/forge/shop.git",
        "owner_id": "b" * 32,
        "created_at": now,
        "updated_at": now,
    }
    return ProjectRead(**(values | fields))


@pytest.mark.parametrize(
    ("found", "flagged", "expected"),
    [
        (False, False, Action.OPEN),
        (False, True, Action.NOTHING),
        (True, True, Action.RESOLVE),
        (True, False, Action.NOTHING),
        (None, False, Action.NOTHING),
        (None, True, Action.NOTHING),
    ],
)
def test_only_a_clear_answer_opens_or_resolves(
    found: bool | None, flagged: bool, expected: Action
) -> None:
    assert repositories.action(found, flagged=flagged) is expected


def test_a_project_with_a_repository_is_checked_whatever_its_status_but_archived() -> None:
    for status in ProjectStatus:
        why = repositories.unchecked_because(project(status=status))
        assert (why is None) is (status is not ProjectStatus.ARCHIVED), status


def test_a_project_without_a_repository_is_not_checked() -> None:
    assert repositories.unchecked_because(project(repository_url=None)) is not None
    assert repositories.unchecked_because(project(repository_url="")) is not None


def test_the_title_is_the_same_at_every_run_and_names_the_project() -> None:
    assert repositories.incident_title("shop") == "Repository of project shop is gone"
    assert repositories.incident_title("shop") == repositories.incident_title("shop")
    assert repositories.incident_title("shop") != repositories.incident_title("blog")


def test_the_details_name_the_repository_and_what_a_person_can_do() -> None:
    details = repositories.incident_details(project())

    assert "/srv/forge/shop.git" in details
    assert f"PATCH /api/projects/{'a' * 32}" in details
    for remedy in ("restore", "GitHub App", "repository_url", "archive"):
        assert remedy in details


def test_credentials_in_a_url_are_never_shown() -> None:
    shown = repositories.shown("https://x-access-token:ghs_secret@github.com/acme/shop.git")

    assert "ghs_secret" not in shown
    assert "x-access-token" not in shown
    assert shown == "https://***@github.com/acme/shop.git"
    details = repositories.incident_details(
        project(repository_url="https://user:hunter2@example.com:8443/acme/shop.git")
    )
    assert "hunter2" not in details
    assert "https://***@example.com:8443/acme/shop.git" in details


def test_a_shown_url_is_one_short_printable_line() -> None:
    shown = repositories.shown("/srv/shop.git\n--upload-pack=x\x00" + "y" * 1000)

    assert "\n" not in shown
    assert "\x00" not in shown
    assert len(shown) <= repositories.URL_CHARS


def test_a_resolved_incident_keeps_what_it_said_and_says_why_it_ended() -> None:
    details = repositories.resolution("It was gone.", "it is back.")

    assert details.startswith("It was gone.")
    assert details.endswith("it is back.")
