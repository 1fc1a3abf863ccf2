"""Servers, the ports allocated on them, the services deployed there, and incidents (REST)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.contracts.base import Identifier, Port, RestModel, Slug


class ServerStatus(StrEnum):
    NEW = "new"
    PENDING_SETUP = "pending_setup"
    ACTIVE = "active"
    UNREACHABLE = "unreachable"
    MAINTENANCE = "maintenance"


class DeploymentStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    FAILED = "failed"
    STOPPED = "stopped"


class IncidentSeverity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class IncidentStatus(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class ServerSpecs(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cpu_cores: int | None = Field(default=None, ge=1, lt=2**31, description="CPU cores.")
    memory_mb: int | None = Field(default=None, ge=1, lt=2**31, description="Memory in MiB.")
    disk_gb: int | None = Field(default=None, ge=1, lt=2**31, description="Disk in GiB.")


class ServerCreate(RestModel):
    name: Slug = Field(description="The server's handle, unique.")
    address: str = Field(min_length=1, max_length=255, description="IP address or host name.")
    ssh_user: str = Field(default="root", min_length=1, max_length=64, description="SSH user.")
    ssh_port: Port = Field(default=22, description="SSH port.")
    ssh_key_ref: str | None = Field(
        default=None, max_length=255, description="Reference to the SSH private key (not the key)."
    )
    is_local: bool = Field(default=False, description="The embedded mode's own machine.")
    provider_id: str | None = Field(default=None, max_length=255, description="Provider's id.")
    specs: ServerSpecs = Field(default_factory=ServerSpecs, description="Its size.")
    status: ServerStatus = Field(default=ServerStatus.NEW, description="Initial status.")


class ServerUpdate(RestModel):
    address: str | None = Field(default=None, min_length=1, max_length=255, description="Address.")
    ssh_user: str | None = Field(default=None, min_length=1, max_length=64, description="SSH user.")
    ssh_port: Port | None = Field(default=None, description="SSH port.")
    ssh_key_ref: str | None = Field(default=None, max_length=255, description="SSH key reference.")
    status: ServerStatus | None = Field(default=None, description="Status.")
    specs: ServerSpecs | None = Field(default=None, description="Its size.")
    last_health_check_at: AwareDatetime | None = Field(
        default=None, description="Last health check."
    )


class ServerRead(RestModel):
    id: Identifier = Field(description="The server's id.")
    name: str = Field(description="Its handle.")
    address: str = Field(description="IP address or host name.")
    ssh_user: str = Field(description="SSH user.")
    ssh_port: int = Field(description="SSH port.")
    ssh_key_ref: str | None = Field(description="Reference to its SSH key.")
    is_local: bool = Field(description="The embedded mode's own machine.")
    provider_id: str | None = Field(description="Provider's id.")
    specs: ServerSpecs = Field(description="Its size.")
    status: ServerStatus = Field(description="Its status.")
    last_health_check_at: datetime | None = Field(description="Last health check.")
    created_at: datetime = Field(description="When it was registered.")


class PortAllocationCreate(RestModel):
    server_id: Identifier = Field(description="The server to allocate on.")
    project_id: Identifier = Field(description="The project the port is for.")
    service_name: Slug = Field(description="The project's service that listens on it.")
    port: Port | None = Field(default=None, description="A specific port; omitted: the API picks.")


class PortAllocationRead(RestModel):
    id: Identifier = Field(description="The allocation's id.")
    server_id: Identifier = Field(description="The server.")
    project_id: Identifier = Field(description="The project.")
    service_name: str = Field(description="The service.")
    port: int = Field(description="The port, unique on its server.")
    created_at: datetime = Field(description="When it was allocated.")


class ServiceDeploymentCreate(RestModel):
    project_id: Identifier = Field(description="The project deployed.")
    server_id: Identifier = Field(description="The server it runs on.")
    service_name: Slug = Field(description="The project's service.")
    port: Port = Field(description="The port it listens on.")
    commit_sha: str | None = Field(default=None, max_length=64, description="Deployed commit.")
    status: DeploymentStatus = Field(default=DeploymentStatus.PENDING, description="Status.")
    url: str | None = Field(default=None, max_length=500, description="Its URL.")


class ServiceDeploymentUpdate(RestModel):
    commit_sha: str | None = Field(default=None, max_length=64, description="Deployed commit.")
    status: DeploymentStatus | None = Field(default=None, description="Status.")
    url: str | None = Field(default=None, max_length=500, description="Its URL.")


class ServiceDeploymentRead(RestModel):
    id: Identifier = Field(description="The deployment's id.")
    project_id: Identifier = Field(description="The project.")
    server_id: Identifier = Field(description="The server.")
    service_name: str = Field(description="The service.")
    port: int = Field(description="The port.")
    commit_sha: str | None = Field(description="Deployed commit.")
    status: DeploymentStatus = Field(description="Status.")
    url: str | None = Field(description="Its URL.")
    created_at: datetime = Field(description="When it was recorded.")
    updated_at: datetime = Field(description="When it last changed.")


class IncidentCreate(RestModel):
    server_id: Identifier | None = Field(default=None, description="The server concerned.")
    severity: IncidentSeverity = Field(description="How bad it is.")
    title: str = Field(min_length=1, max_length=300, description="One line.")
    details: str = Field(default="", max_length=20_000, description="What is known.")


class IncidentUpdate(RestModel):
    status: IncidentStatus | None = Field(default=None, description="Status.")
    severity: IncidentSeverity | None = Field(default=None, description="Severity.")
    details: str | None = Field(default=None, max_length=20_000, description="Details.")


class IncidentRead(RestModel):
    id: Identifier = Field(description="The incident's id.")
    server_id: Identifier | None = Field(description="The server concerned.")
    severity: IncidentSeverity = Field(description="How bad it is.")
    status: IncidentStatus = Field(description="Status.")
    title: str = Field(description="One line.")
    details: str = Field(description="What is known.")
    created_at: datetime = Field(description="When it was opened.")
    resolved_at: datetime | None = Field(description="When it was resolved.")
