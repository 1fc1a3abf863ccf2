"""The API's administration commands.

`api-create-admin`: migrate, then create the admin user (if missing) and the first service key.
Prints one JSON object; exits 0 on success, 1 on a refusal (`{"success": false, "error", ...}`).
- By default the key is generated and shown once (`service_key`); it is stored only as a digest.
  Refused (`service_key_exists`) when a service key exists, unless `--new-key`.
- `--service-key-env NAME` registers the key the operator generated instead, read from the
  environment variable NAME (never argv): docker compose gives every service its `API_KEY` from the
  operator's `.env` before the database exists, and its one-shot `migrate` service runs
  `api-create-admin --service-key-env SERVICE_API_KEY`. The key must look like one this API makes,
  unscoped (`auth.keys.unscoped_key_problem`), or it is refused (`invalid_service_key`, naming NAME,
  never the value) before anything is touched. Idempotent: the key already stored is `"created":
  false`; other service keys are no obstacle (an operator rotates by adding one); a revoked or
  expired one is refused (`service_key_revoked`, `service_key_expired`), never brought back. The
  output never holds the key: `success`, `created`, `admin_user_id`, `key_id`.
`api-migrate`: bring the database to the latest schema.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from shared.contracts import PrincipalKind
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.auth.keys import display_prefix, generate_key, hash_key, unscoped_key_problem
from api.auth.models import ApiKey
from api.auth.repository import ApiKeyRepository
from api.config import ApiSettings, secret_variable
from api.db import make_engine, make_sessionmaker, utc_now
from api.migrations import upgrade
from api.users.models import User
from api.users.repository import UserRepository

OPERATOR_KEY_NAME = "operator"
# A run racing another on the same database loses a unique constraint at most once per row it
# adds (the admin user, the key); the next attempt finds the winner's rows.
_ATTEMPTS = 3


async def _admin(session: AsyncSession, username: str, telegram_id: int | None) -> User:
    """The admin user, made if missing; an existing user is left as it is."""
    users = UserRepository(session)
    admin = await users.by_username(username)
    if admin is None:
        admin = await users.add(User(username=username, telegram_id=telegram_id, is_admin=True))
    return admin


async def create_admin_and_key(
    database_url: str, *, admin_username: str, admin_telegram_id: int | None, new_key: bool
) -> dict[str, Any]:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            admin = await _admin(session, admin_username, admin_telegram_id)
            keys = ApiKeyRepository(session)
            if await keys.has_active_service_key() and not new_key:
                return {
                    "success": False,
                    "error": "service_key_exists",
                    "message": "a service key exists; pass --new-key for another",
                    "admin_user_id": admin.id,
                }
            key = generate_key()
            record = await keys.add(
                ApiKey(
                    name="admin-cli",
                    key_hash=hash_key(key),
                    prefix=display_prefix(key),
                    principal=PrincipalKind.SERVICE,
                )
            )
            return {
                "success": True,
                "admin_user_id": admin.id,
                "key_id": record.id,
                "service_key": key,
            }
    finally:
        await engine.dispose()


def invalid_service_key(variable: str, key: str | None) -> dict[str, Any] | None:
    """The refusal of the key read from `variable` (None: unset), or None when it may be used.
    The message names the variable and the problem, never the value."""
    problem = "is not set" if key is None else unscoped_key_problem(key)
    if problem is None:
        return None
    return {
        "success": False,
        "error": "invalid_service_key",
        "message": f"the service key in {variable} {problem}",
    }


async def _register(
    session: AsyncSession, key: str, variable: str, admin_username: str, telegram_id: int | None
) -> dict[str, Any]:
    admin = await _admin(session, admin_username, telegram_id)
    keys = ApiKeyRepository(session)
    stored = await keys.by_hash(hash_key(key))
    if stored is None:
        stored = await keys.add(
            ApiKey(
                name=OPERATOR_KEY_NAME,
                key_hash=hash_key(key),
                prefix=display_prefix(key),
                principal=PrincipalKind.SERVICE,
            )
        )
        return {"success": True, "created": True, "admin_user_id": admin.id, "key_id": stored.id}
    refusal = {"success": False, "admin_user_id": admin.id, "key_id": stored.id}
    if stored.principal is not PrincipalKind.SERVICE:
        return refusal | {
            "error": "invalid_service_key",
            "message": f"the key in {variable} is registered for a user, not a service",
        }
    if stored.revoked_at is not None:
        return refusal | {
            "error": "service_key_revoked",
            "message": f"the service key in {variable} was revoked; generate a new one",
        }
    if stored.expires_at is not None and stored.expires_at <= utc_now():
        return refusal | {
            "error": "service_key_expired",
            "message": f"the service key in {variable} has expired; generate a new one",
        }
    return {"success": True, "created": False, "admin_user_id": admin.id, "key_id": stored.id}


async def register_service_key(
    database_url: str,
    *,
    key: str,
    variable: str,
    admin_username: str,
    admin_telegram_id: int | None,
) -> dict[str, Any]:
    """Make the admin user if missing and store `key` (valid: see `invalid_service_key`) as a
    service key, unless it is stored already. Safe against a concurrent run of the same: the
    loser of a unique constraint tries again and finds the winner's rows."""
    engine = make_engine(database_url, pool_size=1)
    try:
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with make_sessionmaker(engine)() as session, session.begin():
                    return await _register(
                        session, key, variable, admin_username, admin_telegram_id
                    )
            except IntegrityError:
                if attempt == _ATTEMPTS:
                    raise
        raise AssertionError("unreachable")
    finally:
        await engine.dispose()


_DESCRIPTION = "Migrate, then create the admin user and the first service key."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="api-create-admin", description=_DESCRIPTION)
    parser.add_argument("--admin-username", default="admin")
    parser.add_argument("--admin-telegram-id", type=int, default=None)
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--new-key", action="store_true", help="create a key even if one exists")
    source.add_argument(
        "--service-key-env",
        metavar="NAME",
        help="register the key in environment variable NAME instead of generating one",
    )
    parser.add_argument("--no-migrate", action="store_true", help="skip `alembic upgrade head`")
    args = parser.parse_args(argv)
    settings = ApiSettings()
    result: dict[str, Any] | None = None
    key: str | None = None
    if args.service_key_env is not None:
        secret = secret_variable(args.service_key_env)
        key = None if secret is None else secret.get_secret_value()
        result = invalid_service_key(args.service_key_env, key)
    if result is None:
        if not args.no_migrate:
            upgrade(settings.database_url)
        if key is not None:
            result = asyncio.run(
                register_service_key(
                    settings.database_url,
                    key=key,
                    variable=args.service_key_env,
                    admin_username=args.admin_username,
                    admin_telegram_id=args.admin_telegram_id,
                )
            )
        else:
            result = asyncio.run(
                create_admin_and_key(
                    settings.database_url,
                    admin_username=args.admin_username,
                    admin_telegram_id=args.admin_telegram_id,
                    new_key=args.new_key,
                )
            )
    print(json.dumps(result))
    sys.exit(0 if result["success"] else 1)


def migrate() -> None:
    """`api-migrate`: bring the database to the latest schema."""
    upgrade(ApiSettings().database_url)
