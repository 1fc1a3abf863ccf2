from __future__ import annotations

import ast
from pathlib import Path

import api
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


def test_only_the_settings_class_reads_the_environment() -> None:
    """Configuration is ApiSettings: no module reads os.environ or os.getenv by itself."""
    source = Path(api.__file__).parent
    readers = sorted(
        f"{path.relative_to(source)}:{node.lineno}"
        for path in source.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if (isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb"})
        or (isinstance(node, ast.Name) and node.id in {"environ", "getenv", "environb"})
        or (isinstance(node, ast.alias) and node.name in {"environ", "getenv", "environb"})
    )
    assert readers == []
