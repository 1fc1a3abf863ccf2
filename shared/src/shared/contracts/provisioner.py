"""Server provisioning."""

from __future__ import annotations

from pydantic import Field

from shared.contracts.base import Identifier, Message, Slug
from shared.contracts.common import OutcomeStatus


class ProvisionerMessage(Message):
    """Asks infra-service to set a server up (or set it up again)."""

    server_handle: Slug = Field(description="The server to provision: its name or its id.")
    force_reinstall: bool = Field(default=False, description="Run setup even if already done.")
    is_recovery: bool = Field(
        default=False, description="The server is being recovered: redeploy its services too."
    )


class ProvisionerResult(Message):
    """The outcome of provisioning one server."""

    status: OutcomeStatus = Field(description="How provisioning ended.")
    error: str | None = Field(default=None, description="Why provisioning did not succeed.")
    server_handle: Identifier = Field(description="The server that was provisioned.")
    server_ip: str | None = Field(default=None, description="The server's address.")
    services_redeployed: int = Field(
        default=0, ge=0, description="Services redeployed during a recovery."
    )
    errors: list[str] | None = Field(default=None, description="Per-step errors, if any.")
