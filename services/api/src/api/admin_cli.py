"""The API's administration commands.

`api-create-admin`: migrate, then create the admin user and the first service key. Prints one
JSON object. The key is shown once; it is stored only as a digest.
`api-migrate`: bring the database to the latest schema.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from shared.contracts import PrincipalKind

from api.auth.keys import display_prefix, generate_key, hash_key
from api.auth.models import ApiKey
from api.auth.repository import ApiKeyRepository
from api.config import ApiSettings
from api.db import make_engine, make_sessionmaker
from api.migrations import upgrade
from api.users.models import User
from api.users.repository import UserRepository


async def create_admin_and_key(
    database_url: str, *, admin_username: str, admin_telegram_id: int | None, new_key: bool
) -> dict[str, Any]:
    engine = make_engine(database_url, pool_size=1)
    try:
        async with make_sessionmaker(engine)() as session, session.begin():
            users = UserRepository(session)
            admin = await users.by_username(admin_username)
            if admin is None:
                admin = await users.add(
                    User(username=admin_username, telegram_id=admin_telegram_id, is_admin=True)
                )
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


_DESCRIPTION = "Migrate, then create the admin user and the first service key."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="api-create-admin", description=_DESCRIPTION)
    parser.add_argument("--admin-username", default="admin")
    parser.add_argument("--admin-telegram-id", type=int, default=None)
    parser.add_argument("--new-key", action="store_true", help="create a key even if one exists")
    parser.add_argument("--no-migrate", action="store_true", help="skip `alembic upgrade head`")
    args = parser.parse_args(argv)
    settings = ApiSettings()
    if not args.no_migrate:
        upgrade(settings.database_url)
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
