from __future__ import annotations

from api.deployments.models import ServiceDeployment
from api.repository import Repository


class ServiceDeploymentRepository(Repository[ServiceDeployment]):
    model = ServiceDeployment
    noun = "service deployment"
