"""The principal decides what a key may see and do."""

from __future__ import annotations

import pytest
from api.auth.keys import KEY_PREFIX, display_prefix, generate_key, hash_key
from api.auth.principal import Principal
from api.errors import Forbidden, NotFound
from shared.contracts import PrincipalKind
from shared.permissions import key_claims

SERVICE = Principal(kind=PrincipalKind.SERVICE, key_id="k1", user_id=None)
ALICE = Principal(kind=PrincipalKind.USER, key_id="k2", user_id="alice")
READER = Principal(
    kind=PrincipalKind.USER, key_id="k3", user_id="alice", scopes=frozenset({"tasks:read"})
)


class TestPrincipal:
    def test_a_service_sees_every_owners_objects(self) -> None:
        SERVICE.check_owner("alice", "project")
        assert SERVICE.owner_filter() is None

    def test_a_user_sees_its_own_objects(self) -> None:
        ALICE.check_owner("alice", "project")
        assert ALICE.owner_filter() == "alice"

    def test_another_users_object_is_reported_missing_not_forbidden(self) -> None:
        with pytest.raises(NotFound, match="project not found"):
            ALICE.check_owner("bob", "project")

    def test_a_user_may_not_do_what_only_services_do(self) -> None:
        SERVICE.require_service()
        with pytest.raises(Forbidden):
            ALICE.require_service()

    def test_a_key_without_scopes_has_every_right_of_its_principal(self) -> None:
        ALICE.require("tasks:write")
        SERVICE.require("api-keys:admin")

    def test_a_scoped_key_is_refused_what_it_lacks_naming_the_scope(self) -> None:
        READER.require("tasks:read")
        with pytest.raises(Forbidden, match="this key lacks the scope tasks:create"):
            READER.require("tasks:create")


class TestKeys:
    def test_keys_are_random_prefixed_and_long(self) -> None:
        keys = {generate_key() for _ in range(100)}
        assert len(keys) == 100
        assert all(k.startswith(KEY_PREFIX) and len(k) > 40 for k in keys)

    def test_the_digest_is_stable_and_reveals_nothing_of_the_key(self) -> None:
        key = generate_key()
        assert hash_key(key) == hash_key(key)
        assert key not in hash_key(key)
        assert len(hash_key(key)) == 64

    def test_the_display_prefix_is_short_enough_to_be_harmless(self) -> None:
        key = generate_key()
        assert display_prefix(key) == key[:10]

    def test_an_unscoped_key_names_no_claims(self) -> None:
        key = generate_key()
        assert "." not in key
        assert key_claims(key) is None

    def test_a_scoped_key_carries_its_claims_after_the_secret(self) -> None:
        key = generate_key(("projects:read", "tasks:read"))
        assert key_claims(key) == ("projects:read", "tasks:read")
        assert display_prefix(key) == key[:10]
        assert key.startswith(KEY_PREFIX)

    def test_a_key_scoped_to_nothing_says_so(self) -> None:
        assert key_claims(generate_key(())) == ()
