from __future__ import annotations

import pytest
from infra_service.domain.sources import (
    InvalidSource,
    check_commit,
    check_project_name,
    repository_url,
)

FORGE = "https://github.com"


@pytest.mark.parametrize(
    "reference",
    [
        "https://git.example.com/acme/shop.git",
        "http://127.0.0.1:3000/acme/shop",
        "ssh://git@git.example.com:2222/acme/shop.git",
        "git://git.example.com/acme/shop",
        "file:///data/git/shop.git",
        "/data/git/shop.git",
    ],
)
def test_an_allowed_url_or_absolute_path_is_taken_as_it_is(reference: str) -> None:
    assert repository_url(reference, FORGE) == reference


def test_owner_and_name_are_a_repository_on_the_forge() -> None:
    assert repository_url("acme/shop.web", FORGE + "/") == f"{FORGE}/acme/shop.web.git"


@pytest.mark.parametrize(
    "reference",
    [
        "--upload-pack=touch /tmp/x #://x",
        "--upload-pack=touch /tmp/x",
        "-oProxyCommand=touch /tmp/x",
        "--config=core.sshCommand=touch /tmp/x",
        "ext::sh -c touch% /tmp/x",
        "fd::3",
        "ssh://-oProxyCommand=touch/x",
        "ssh://-oProxyCommand%3Dtouch/x",
        "ssh://git@-oProxyCommand=touch/x",
        "ssh://host:-p/x",
        "/data/git/shop.git\n",
        "git@github.com:acme/shop.git",
        "ftp://example.com/shop.git",
        "https://example.com/a b",
        "https://example.com/a/../../b",
        "file:///data/../etc",
        "/data/./git",
        "/data/../etc",
        "-/shop",
        "acme/-shop",
        "acme/..",
        "../etc",
        "a/b/c",
        "shop",
        "",
        "/data/git\n--upload-pack=x",
        "https://example.com/\x00",
        "$(touch /tmp/x)",
        "x" * 1025,
    ],
)
def test_anything_else_is_refused_before_git_sees_it(reference: str) -> None:
    with pytest.raises(InvalidSource) as error:
        repository_url(reference, FORGE)
    assert "is not `owner/name`" in str(error.value)


@pytest.mark.parametrize(
    "commit", ["abcd\n", "main", "--all", "-1", "0123abcz", "abc", "HEAD", "a" * 65]
)
def test_a_commit_is_hexadecimal_only(commit: str) -> None:
    with pytest.raises(InvalidSource):
        check_commit(commit)
    assert check_commit("0a1b2c3d") == "0a1b2c3d"


@pytest.mark.parametrize(
    "name",
    ["shop\n", "-rf", "Shop", "a b", "a/b", "..", "{{ lookup('pipe', 'id') }}", "x" * 64, ""],
)
def test_a_project_name_is_a_lowercase_dns_label(name: str) -> None:
    with pytest.raises(InvalidSource):
        check_project_name(name)
    assert check_project_name("shop-2") == "shop-2"
