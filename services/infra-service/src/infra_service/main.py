"""`infra-service`: N consumers on ansible:deploy:queue and on provisioner:queue (jobs in flight),
run by `shared.runtime`: SIGTERM lets the jobs in flight finish (SHUTDOWN_GRACE_S), a consumer
that ends unasked stops the service with exit 1."""

from infra_service.bootstrap import build
from infra_service.config import InfraSettings
from shared import runtime


def main() -> None:
    runtime.main(InfraSettings, build, name="infra-service")
