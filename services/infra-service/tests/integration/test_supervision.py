"""infra-service as a real process stops on SIGTERM, cleanly, while serving."""

from __future__ import annotations

import asyncio

from infra_testing import Harness
from shared.contracts import ProvisionerMessage


async def test_sigterm_stops_a_serving_service_with_exit_zero(harness: Harness) -> None:
    answered = await harness.provision(ProvisionerMessage(server_handle="nowhere"))
    assert answered["status"] == "error"

    await asyncio.to_thread(harness.service.stop)

    assert harness.service.exit_code == 0
    assert "consumer stopped" in harness.service.logs()
    assert "an essential task ended" not in harness.service.logs()
