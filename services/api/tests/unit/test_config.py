from __future__ import annotations

import pytest
from api.config import ApiSettings
from api.db import asyncpg_url
from pydantic import ValidationError


def test_a_reversed_port_range_is_refused() -> None:
    with pytest.raises(ValidationError, match="port_range_start must not exceed port_range_end"):
        ApiSettings(port_range_start=30000, port_range_end=20000)


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgres://u@h/db", "postgresql+asyncpg://u@h/db"),
        ("postgresql+asyncpg://u@h/db", "postgresql+asyncpg://u@h/db"),
    ],
)
def test_plain_postgres_urls_are_driven_by_asyncpg(given: str, used: str) -> None:
    assert asyncpg_url(given) == used
