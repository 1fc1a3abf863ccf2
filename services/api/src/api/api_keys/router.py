from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from shared.contracts import ApiKeyCreate, ApiKeyCreated, ApiKeyRead
from shared.permissions import API_KEYS_ADMIN

from api.api_keys import service
from api.auth.principal import Principal, requires
from api.db import SessionDep
from api.errors import error_responses
from api.ids import IdFilter, IdPath
from api.pagination import PageDep

router = APIRouter(
    prefix="/api/api-keys", tags=["api-keys"], responses=error_responses(401, 403, 422, 503)
)

ApiKeysAdmin = Annotated[Principal, requires(API_KEYS_ADMIN)]


@router.post("", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(
    body: ApiKeyCreate, session: SessionDep, principal: ApiKeysAdmin
) -> ApiKeyCreated:
    """Create a key; the secret is in this response only. Service keys only."""
    principal.require_service()
    return await service.create_key(session, body)


@router.get("", response_model=list[ApiKeyRead])
async def list_api_keys(
    session: SessionDep,
    principal: ApiKeysAdmin,
    page: PageDep,
    user_id: IdFilter = None,
) -> list[ApiKeyRead]:
    """List keys (never their secrets). Service keys only."""
    principal.require_service()
    records = await service.list_keys(session, user_id, page)
    return [ApiKeyRead.model_validate(r) for r in records]


@router.get("/{key_id}", response_model=ApiKeyRead, responses=error_responses(404))
async def get_api_key(key_id: IdPath, session: SessionDep, principal: ApiKeysAdmin) -> ApiKeyRead:
    """Read one key. Service keys only."""
    principal.require_service()
    return ApiKeyRead.model_validate(await service.get_key(session, key_id))


@router.delete("/{key_id}", response_model=ApiKeyRead, responses=error_responses(404))
async def revoke_api_key(
    key_id: IdPath, session: SessionDep, principal: ApiKeysAdmin
) -> ApiKeyRead:
    """Revoke a key; it stops working at once. Service keys only."""
    principal.require_service()
    return ApiKeyRead.model_validate(await service.revoke_key(session, principal, key_id))
