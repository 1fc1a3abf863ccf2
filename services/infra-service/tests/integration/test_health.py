"""Health checks through infra-service as its own process: whether a server answers, one result
per check with the check's ids, the server's key in no result, log or command line, and a server
the API does not know acknowledged without an answer."""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
from infra_testing import CANARY, CommandLineScanner, Harness
from redis.asyncio import Redis
from shared.contracts import ServerHealthCheck
from shared.testing.hostile import settled
from shared.testing.servers import free_port

QUEUE, RESULTS = "infra:health:queue", "infra:health:results"
# Not a key at all: ssh-add refuses it, and must not repeat it anywhere.
CANARY_KEY = f"-----BEGIN OPENSSH PRIVATE KEY-----\n{CANARY}\n-----END OPENSSH PRIVATE KEY-----\n"


@pytest.fixture
def ssh_key(tmp_path: Path) -> str:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.read_text()


@pytest.fixture(autouse=True)
def keys(ssh_key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before infra-service starts: it reads its secret variables once, like its settings."""
    monkeypatch.setenv("CODEGEN_SECRET_HEALTH_KEY", ssh_key)
    monkeypatch.setenv("CODEGEN_SECRET_CANARY_KEY", CANARY_KEY)


async def closed_port_server(harness: Harness, name: str, **fields: Any) -> dict[str, Any]:
    """A server whose SSH port nobody listens on."""
    return await harness.server(
        name=name, address="127.0.0.1", ssh_port=free_port(), status="active", **fields
    )


async def test_the_local_server_answers_when_a_deploy_could_run_there(
    harness: Harness, local_server: dict[str, Any]
) -> None:
    message = ServerHealthCheck(server_handle="local")

    result = await harness.check(message)

    assert result["reachable"] is True
    assert result["error"] is None
    assert result["server_id"] == local_server["id"]
    assert result["correlation_id"] == message.correlation_id


async def test_a_server_nobody_listens_for_is_unreachable_after_every_try(
    harness: Harness,
) -> None:
    server = await closed_port_server(harness, "gone")

    result = await harness.check(ServerHealthCheck(server_handle=server["id"]))

    assert result["reachable"] is False
    assert result["server_id"] == server["id"]
    assert "no answer after 3 attempts" in result["error"]
    assert "Connection refused" in result["error"]
    assert harness.service.logs().count("no answer yet") == 2
    # The check only tells: the server's status and incidents are the scheduler's to keep.
    assert (await harness.get(f"/api/servers/{server['id']}"))["status"] == "active"
    assert await harness.get("/api/incidents", server_id=server["id"]) == []


async def test_a_repeated_check_is_answered_again_with_its_first_result_and_not_run_twice(
    harness: Harness, local_server: dict[str, Any]
) -> None:
    message = ServerHealthCheck(server_handle="local")

    first = await harness.check(message)
    again = await harness.check(message)

    assert again == first
    checks = [line for line in harness.service.logs().splitlines() if "server checked" in line]
    assert len(checks) == 1


async def test_a_check_of_a_server_the_api_does_not_know_is_acknowledged_without_an_answer(
    harness: Harness, redis_client: Redis, local_server: dict[str, Any]
) -> None:
    ghost = ServerHealthCheck(server_handle="ghost")
    await harness.publisher.publish(QUEUE, ghost)
    await settled(redis_client, QUEUE, "infra-service", within=60)

    # Still serving: the next check is answered, and nothing ever answered the ghost.
    await harness.check(ServerHealthCheck(server_handle="local"))
    answered = {result["request_id"] for result in await harness.results(RESULTS)}
    assert ghost.request_id not in answered
    assert "does not know" in harness.service.logs()
    assert await redis_client.xlen(f"{QUEUE}:dlq") == 0


@pytest.mark.timeout(180)
async def test_the_servers_key_is_in_no_result_log_or_command_line(
    harness: Harness, ssh_key: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # The key in an agent, ssh refused; and a "key" ssh-add cannot read, its text a canary.
    with_key = await closed_port_server(harness, "keyed", ssh_key_ref="env:HEALTH_KEY")
    bad_key = await closed_port_server(harness, "canary", ssh_key_ref="env:CANARY_KEY")
    key_material = ssh_key.splitlines()[2]

    private_dirs = health_dirs()
    with CommandLineScanner(CANARY, key_material) as scanner:
        await scanner.prove_it_sees()
        refused = await harness.check(ServerHealthCheck(server_handle=with_key["id"]))
        unreadable = await harness.check(ServerHealthCheck(server_handle=bad_key["id"]))
        await scanner.prove_it_sees()

    assert "Connection refused" in refused["error"]
    assert "SSH key could not be loaded" in unreadable["error"]
    assert scanner.found == []
    told = json.dumps([refused, unreadable]) + harness.service.logs()
    logs = capsys.readouterr()
    for secret in (CANARY, key_material):
        assert secret not in told + logs.out + logs.err
    # Each check's agent and its private directory are gone before its result is told.
    assert children(harness.service.pid) == []
    assert health_dirs() <= private_dirs


def health_dirs() -> set[Path]:
    """The checks' private directories (an agent's socket each) in the temporary directory."""
    return set(Path(tempfile.gettempdir()).glob("cg-health-*"))


def children(pid: int) -> list[str]:
    """The command lines of the processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            argv = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        if parent == pid:
            found.append(argv.strip())
    return found
