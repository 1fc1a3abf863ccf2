from __future__ import annotations

from fastapi import APIRouter
from shared.contracts import WhoAmI
from shared.permissions import SCOPES

from api.auth.principal import PrincipalDep
from api.errors import error_responses

router = APIRouter(prefix="/api/auth", tags=["auth"], responses=error_responses(401, 503))


@router.get("/me", response_model=WhoAmI)
async def who_am_i(principal: PrincipalDep) -> WhoAmI:
    """Who the key stands for and what it may do. Needs no scope: a key may always ask."""
    return WhoAmI(
        principal=principal.kind,
        user_id=principal.user_id,
        key_id=principal.key_id,
        scopes=None if principal.scopes is None else [s for s in SCOPES if s in principal.scopes],
    )
