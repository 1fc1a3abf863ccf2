"""Property-based fuzzing of the whole OpenAPI with schemathesis, over real HTTP.

Every operation gets generated requests, valid and invalid, sent with a service key to the real
app (uvicorn) over a real database. Zero 5xx, and every response must match what the schema
declares (status code, content type, body schema, headers).
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from api.admin_cli import create_admin_and_key
from api.config import ApiSettings
from api.testing import serve_api
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from shared.testing.servers import Databases

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
EXAMPLES_PER_OPERATION = 25
CASES: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="module")
def fuzzed_api(databases: Databases, migrated_template: str) -> Iterator[tuple[str, str]]:
    """The API served by uvicorn on a free loopback port; yields (base URL, service key)."""
    url = databases.create(template=migrated_template)
    result = asyncio.run(
        create_admin_and_key(url, admin_username="admin", admin_telegram_id=None, new_key=False)
    )
    try:
        with serve_api(ApiSettings(database_url=url)) as base_url:
            yield base_url, result["service_key"]
    finally:
        databases.drop(url)


@pytest.fixture(scope="module")
def api_schema(fuzzed_api: tuple[str, str]) -> schemathesis.BaseSchema:
    base_url, _ = fuzzed_api
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
    return schema


@pytest.mark.slow("25 generated requests for each of the API's ~40 operations, over real HTTP")
@pytest.mark.timeout(900)  # one test item runs every operation's cases
@schemathesis.pytest.from_fixture("api_schema").parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_gets_a_server_error_or_an_undeclared_response(
    case: schemathesis.Case[Any], fuzzed_api: tuple[str, str]
) -> None:
    _, key = fuzzed_api
    CASES[case.operation.label] += 1
    case.call_and_validate(headers={"Authorization": f"Bearer {key}"}, checks=CHECKS)


def test_zz_every_operation_in_the_openapi_document_was_fuzzed(
    fuzzed_api: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Runs after the cases above (pytest keeps a module's order): none may have been left out."""
    base_url, _ = fuzzed_api
    document = httpx.get(f"{base_url}/openapi.json").json()
    operations = {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
    }
    with capsys.disabled():
        print(f"\nFUZZ operations={len(CASES)} cases={sum(CASES.values())}")
    assert operations, "the OpenAPI document lists no operation"
    assert sorted(operations - set(CASES)) == []
    assert all(CASES[operation] >= 2 for operation in operations), CASES
