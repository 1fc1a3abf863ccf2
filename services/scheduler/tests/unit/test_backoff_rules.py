"""Provisioning retries' rules: who waits for a setup, when the next request may go, its id."""

from __future__ import annotations

import pytest
from scheduler.domain.backoff import (
    Backoff,
    awaiting_setup,
    due,
    handle_of,
    parse_request_id,
    request_id,
)
from server_fakes import server
from shared.contracts import ServerStatus


def test_the_delay_doubles_from_the_first_up_to_the_longest() -> None:
    backoff = Backoff(first_s=60, max_s=3600)

    delays = [backoff.delay_ms(attempts) for attempts in range(1, 9)]

    assert delays == [60_000, 120_000, 240_000, 480_000, 960_000, 1_920_000, 3_600_000, 3_600_000]


def test_a_huge_number_of_attempts_waits_the_longest_delay() -> None:
    assert Backoff(first_s=0.5, max_s=10).delay_ms(10**9) == 10_000


def test_a_pending_server_waits_for_its_setup() -> None:
    pending = server("web-1", status=ServerStatus.PENDING_SETUP)

    assert awaiting_setup(pending, retrying=False)


def test_an_unreachable_server_waits_only_while_its_setup_is_being_retried() -> None:
    unreachable = server("web-1", status=ServerStatus.UNREACHABLE)

    assert awaiting_setup(unreachable, retrying=True)
    assert not awaiting_setup(unreachable, retrying=False)


@pytest.mark.parametrize(
    "status", [ServerStatus.ACTIVE, ServerStatus.MAINTENANCE, ServerStatus.NEW]
)
def test_other_servers_do_not_wait_for_a_setup(status: ServerStatus) -> None:
    assert not awaiting_setup(server("web-1", status=status), retrying=True)


def test_the_first_request_is_due_at_once_and_the_next_once_its_delay_passed() -> None:
    assert due(None, now_ms=5)
    assert not due((1, 1_000), now_ms=999)
    assert due((1, 1_000), now_ms=1_000)


def test_a_request_id_names_the_server_and_the_request_number() -> None:
    made = request_id("0123abcd", 7)

    assert made == "provision.0123abcd.7"
    assert parse_request_id(made) == ("0123abcd", 7)


@pytest.mark.parametrize(
    "other",
    [
        "4f2a9c0d8e7b4a1c9d3e5f6a7b8c9d0e",
        "provision.0123abcd",
        "provision.0123abcd.0",
        "provision.0123abcd.x",
        "provision.ABC.1",
        "provision.0123abcd.1.2",
        "deploy.0123abcd.1",
    ],
)
def test_anyone_elses_request_id_is_not_ours(other: str) -> None:
    assert parse_request_id(other) is None


def test_a_server_is_handled_by_its_id_and_one_whose_id_is_no_handle_is_not() -> None:
    assert handle_of(server("web-1", id="0123abcd")) == "0123abcd"
    assert handle_of(server("web-1", id="Not_A.Handle")) is None
