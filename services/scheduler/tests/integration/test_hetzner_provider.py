"""The Hetzner Cloud adapter against the fake Hetzner: every server over every page, in the
provider's terms, and refusals that name the status, never the token."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from scheduler.adapters.hetzner_provider import HetznerProvider, ProviderUnavailable, token_from
from scheduler.ports import ProviderRefused, ProviderServer
from shared.secrets import LocalSecrets
from shared.testing.fake_hetzner import FakeHetzner


@pytest.fixture
def hetzner() -> Iterator[FakeHetzner]:
    with FakeHetzner() as fake:
        yield fake


def provider_of(hetzner: FakeHetzner, token: str | None = None) -> HetznerProvider:
    return HetznerProvider(api_url=hetzner.url, token=lambda: token or hetzner.token)


async def test_every_server_is_listed_over_all_pages_with_the_token(hetzner: FakeHetzner) -> None:
    ids = [hetzner.add_server(f"web-{n}") for n in range(120)]

    listed = await provider_of(hetzner).servers()

    assert [server.provider_id for server in listed] == [str(server_id) for server_id in ids]
    assert [(r.path, r.query) for r in hetzner.requests] == [
        ("/v1/servers", {"page": str(page), "per_page": "50"}) for page in (1, 2, 3)
    ]
    assert all(r.bearer and r.authorized for r in hetzner.requests)


async def test_a_server_is_read_in_the_providers_terms(hetzner: FakeHetzner) -> None:
    web = hetzner.add_server("web-1", ipv4="203.0.113.7", cores=4, memory=0.5, disk=80)
    starting = hetzner.add_server("web-2", ipv4=None, status="initializing")

    listed = await provider_of(hetzner).servers()

    assert listed == [
        ProviderServer(str(web), "web-1", "203.0.113.7", True, 4, 512, 80),
        ProviderServer(str(starting), "web-2", None, False, 2, 4096, 40),
    ]


async def test_a_bad_token_is_refused_naming_the_401_and_never_the_token(
    hetzner: FakeHetzner,
) -> None:
    wrong = "wrong-token-4f2a9c0d8e7b4a1c9d3e5f6a7b8c9d0e"

    with pytest.raises(ProviderRefused) as refused:
        await provider_of(hetzner, wrong).servers()

    assert "401 (unauthorized: unable to authenticate)" in str(refused.value)
    assert wrong not in str(refused.value)
    assert [r.authorized for r in hetzner.requests] == [False]


@pytest.mark.parametrize("status", [429, 500, 503])
async def test_a_busy_or_failing_provider_is_unavailable_for_now(
    hetzner: FakeHetzner, status: int
) -> None:
    hetzner.add_server("web-1")
    hetzner.fail_next(status=status)

    with pytest.raises(ProviderUnavailable, match=str(status)):
        await provider_of(hetzner).servers()

    assert len(await provider_of(hetzner).servers()) == 1


async def test_a_provider_that_cannot_be_reached_is_unavailable(hetzner: FakeHetzner) -> None:
    url = hetzner.url
    hetzner.close()

    with pytest.raises(ProviderUnavailable, match="could not reach Hetzner Cloud"):
        await HetznerProvider(api_url=url, token=lambda: "token").servers()


def answering(*pages: object, status: int = 200) -> httpx.MockTransport:
    answers = iter(pages)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(next(answers)).encode())

    return httpx.MockTransport(answer)


def page(ids: list[int], next_page: int | None, total: int) -> dict[str, object]:
    servers = [
        {"id": n, "name": f"web-{n}", "status": "running", "public_net": {"ipv4": None}}
        for n in ids
    ]
    pagination = {"page": 1, "next_page": next_page, "total_entries": total}
    return {"servers": servers, "meta": {"pagination": pagination}}


@pytest.mark.parametrize(
    "pages",
    [
        [page([1, 2], 2, 4), page([2, 3], None, 4)],  # a server moved to the next page
        [page([1, 2], None, 3)],  # fewer than announced
    ],
)
async def test_a_list_that_changed_while_read_is_not_taken_for_the_truth(
    pages: list[object],
) -> None:
    provider = HetznerProvider(
        api_url="http://hetzner", token=lambda: "t", transport=answering(*pages)
    )

    with pytest.raises(ProviderUnavailable, match="changed while it was read"):
        await provider.servers()


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"servers": [{"id": 1}], "meta": {"pagination": {"next_page": None}}},
        {"servers": [{"id": "1", "name": "a", "status": "running"}], "meta": {"pagination": {}}},
        {"servers": [], "meta": {"pagination": {"page": 1, "next_page": 1}}},
    ],
)
async def test_an_answer_this_code_cannot_read_is_refused(body: object) -> None:
    provider = HetznerProvider(
        api_url="http://hetzner", token=lambda: "t", transport=answering(body)
    )

    with pytest.raises(ProviderRefused):
        await provider.servers()


async def test_a_token_echoed_by_the_provider_is_scrubbed_from_the_error() -> None:
    token = "secret-token-4f2a9c0d8e7b"
    echo = {"error": {"code": "unauthorized", "message": f"token {token} is unknown"}}
    transport = answering(echo, status=401)

    with pytest.raises(ProviderRefused) as refused:
        await HetznerProvider(
            api_url="http://h", token=lambda: token, transport=transport
        ).servers()

    assert token not in str(refused.value)
    assert "401" in str(refused.value)


def test_a_token_that_is_not_configured_or_not_set_is_refused_naming_the_reference() -> None:
    secrets = LocalSecrets(variables={"HETZNER": "value-of-the-token"}, directory=None)

    with pytest.raises(ProviderRefused, match="HETZNER_TOKEN_REF is not set"):
        token_from(secrets.resolve, None)()
    with pytest.raises(ProviderRefused, match="env:MISSING"):
        token_from(secrets.resolve, "env:MISSING")()
    assert token_from(secrets.resolve, "env:HETZNER")() == "value-of-the-token"
