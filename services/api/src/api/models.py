"""Every ORM model, imported in one place so the metadata (and Alembic) sees them all."""

from api.agent_configs.models import AgentConfig
from api.auth.models import ApiKey
from api.db import Base
from api.deployments.models import ServiceDeployment
from api.executions.models import TaskExecution
from api.incidents.models import Incident
from api.port_allocations.models import PortAllocation
from api.projects.models import Project
from api.servers.models import Server
from api.tasks.models import Task
from api.users.models import User

__all__ = [
    "AgentConfig",
    "ApiKey",
    "Base",
    "Incident",
    "PortAllocation",
    "Project",
    "Server",
    "ServiceDeployment",
    "Task",
    "TaskExecution",
    "User",
]
