from __future__ import annotations

import pytest
from api.auth.keys import KEY_PREFIX, MIN_SECRET_CHARS, generate_key, unscoped_key_problem
from shared.permissions import PROJECTS_READ


def test_every_unscoped_key_this_api_makes_is_accepted() -> None:
    assert all(unscoped_key_problem(generate_key()) is None for _ in range(1000))


def test_the_shortest_accepted_secret_is_min_secret_chars() -> None:
    assert unscoped_key_problem(KEY_PREFIX + "a" * MIN_SECRET_CHARS) is None
    assert unscoped_key_problem(KEY_PREFIX + "a" * (MIN_SECRET_CHARS - 1)) is not None


@pytest.mark.parametrize(
    ("key", "problem"),
    [
        ("", "is empty"),
        ("x" * 43, "does not start with cgo_"),
        (generate_key((PROJECTS_READ,)), "carries scope claims"),
        ("cgo_" + "a" * 40 + "=", "has characters"),
        ("cgo_" + "a" * 10, "is too short"),
    ],
)
def test_a_key_unlike_ours_is_described_without_repeating_it(key: str, problem: str) -> None:
    described = unscoped_key_problem(key)
    assert described is not None
    assert described.startswith(problem)
    assert not key or key not in described
