"""A real sshd in a podman container as the target: setup_server, then deploy_project over SSH."""

from __future__ import annotations

import asyncio
import hashlib
import io
import socket
import subprocess
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import docker
import httpx
import pytest
import pytest_asyncio
from docker.models.containers import Container
from infra_service.config import InfraSettings
from infra_testing import CANARY, CommandLineScanner, Harness, tiny_app_repo
from shared.contracts import AnsibleDeployMessage, ProvisionerMessage, ServerHealthCheck
from shared.testing.git import git
from shared.testing.servers import free_port
from shared.testing.waiting import eventually

BASE_IMAGE = "localhost/codegen-base:bookworm"
DOCKERFILE = Path(__file__).parent / "sshd" / "Dockerfile"


@pytest.fixture(scope="module")
def sshd_image(docker_host: str) -> str:
    """Built once per Dockerfile content; the engine's cache keeps it between runs."""
    client = docker.DockerClient(base_url=docker_host)
    tag = "codegen-test-sshd:" + hashlib.sha256(DOCKERFILE.read_bytes()).hexdigest()[:12]
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            tar.add(DOCKERFILE, arcname="Dockerfile")
        context.seek(0)
        client.images.build(
            fileobj=context, custom_context=True, tag=tag, network_mode="host", rm=True
        )
    return tag


@pytest.fixture
def ssh_key(tmp_path: Path) -> tuple[str, str]:
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key.read_text(), (tmp_path / "id_ed25519.pub").read_text().strip()


@pytest.fixture(autouse=True)
def ssh_key_secret(ssh_key: tuple[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before infra-service starts: it reads its secret variables once, like its settings."""
    monkeypatch.setenv("CODEGEN_SECRET_SSH_KEY_WEB_1", ssh_key[0])


@pytest_asyncio.fixture
async def sshd(
    docker_host: str, sshd_image: str, ssh_key: tuple[str, str]
) -> AsyncIterator[tuple[int, Container]]:
    """An sshd on a free loopback port (host network), accepting our key for root."""
    client = docker.DockerClient(base_url=docker_host)
    port = free_port()
    container: Container = await asyncio.to_thread(
        client.containers.run,
        sshd_image,
        [
            "sh",
            "-c",
            'echo "$AUTHORIZED_KEY" > /root/.ssh/authorized_keys'
            ' && exec /usr/sbin/sshd -D -e -p "$SSH_PORT" -o ListenAddress=127.0.0.1',
        ],
        environment={"AUTHORIZED_KEY": ssh_key[1], "SSH_PORT": str(port)},
        network_mode="host",
        detach=True,
        labels={"codegen.test": "infra-service-sshd"},
    )
    try:
        try:
            await eventually(lambda: asyncio.to_thread(_listens, port), 30)
        except AssertionError:
            logs = container.logs().decode()[-2000:]
            raise AssertionError(f"sshd did not listen: {logs}") from None
        yield port, container
    finally:
        await asyncio.to_thread(container.remove, force=True)


def _listens(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def settings(settings: InfraSettings) -> InfraSettings:
    """Installing a Docker engine and enabling a firewall need a full machine, not a container."""
    return settings.model_copy(update={"vm_steps_check_mode": True})


# Setting a server up runs some forty tasks over SSH, and the first run builds the image.
@pytest.mark.timeout(900)
@pytest.mark.slow("sets a server up (some forty tasks over SSH), deploys to it, sets it up again")
async def test_a_server_is_set_up_and_a_project_deployed_to_it_over_ssh(
    harness: Harness,
    sshd: tuple[int, Container],
    ssh_key: tuple[str, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = await harness.server(
        name="web-1", address="127.0.0.1", ssh_port=sshd[0], ssh_key_ref="env:SSH_KEY_WEB_1"
    )
    repo = tiny_app_repo(tmp_path)
    project = await harness.project("tiny")
    port = free_port()

    key_material = ssh_key[0].splitlines()[2]
    with CommandLineScanner(CANARY) as scanner, CommandLineScanner(key_material) as key_scanner:
        await scanner.prove_it_sees()
        await key_scanner.prove_it_sees()
        setup = await harness.provision(ProvisionerMessage(server_handle="web-1"), within=600)
        deployed = await harness.deploy(
            AnsibleDeployMessage(
                task_id=f"task-{uuid.uuid4().hex}",
                project_id=project["id"],
                project_name=project["name"],
                repo_full_name=str(repo),
                commit_sha=git(repo, "rev-parse", "HEAD"),
                server="web-1",
                port=port,
                secrets_ref="env:CANARY_SECRETS",
            ),
            within=300,
        )
        await scanner.prove_it_sees()
        await key_scanner.prove_it_sees()

    assert setup["status"] == "success", (setup["error"], setup["errors"])
    assert (await harness.get(f"/api/servers/{server['id']}"))["status"] == "active"
    host = sshd[1]
    assert "PasswordAuthentication no" in run(host, "cat /etc/ssh/sshd_config")
    assert run(host, "id -u codegen").strip().isdigit()
    assert "/etc/apt/apt.conf.d/20auto-upgrades" in run(
        host, "ls /etc/apt/apt.conf.d/20auto-upgrades"
    )
    # Check mode: a container cannot run a Docker engine or a firewall; they were planned only.
    assert run(host, "command -v dockerd ufw || echo none").strip() == "none"
    assert deployed["status"] == "success", (deployed["error"], deployed["stdout_tail"])
    assert deployed["deployed_url"] == f"http://127.0.0.1:{port}"
    url = f"{deployed['deployed_url']}/health"
    served = (await asyncio.to_thread(httpx.get, url, timeout=5)).json()
    assert served["version"] == "1"
    assert served["canary_sha256"] == hashlib.sha256(CANARY.encode()).hexdigest()
    assert run(host, f"stat -c %U /proc/{served['pid']}").strip() == "codegen"
    assert scanner.found == []
    assert key_scanner.found == []
    logs = capsys.readouterr()
    service_logs = harness.service.logs()
    assert CANARY not in logs.out + logs.err + service_logs
    assert key_material not in logs.out + logs.err + service_logs
    assert CANARY not in str([setup, deployed])
    again = await harness.provision(ProvisionerMessage(server_handle="web-1"))
    assert again["status"] == "success", "an active server is not set up twice"
    recovery = await harness.provision(
        ProvisionerMessage(server_handle="web-1", is_recovery=True), within=600
    )
    assert recovery["status"] == "success", (recovery["error"], recovery["errors"])
    assert recovery["services_redeployed"] == 1


@pytest.mark.timeout(300)  # the first run builds the image
async def test_a_server_that_lets_us_log_in_answers_its_health_check_and_its_host_key_is_kept(
    harness: Harness, sshd: tuple[int, Container], settings: InfraSettings
) -> None:
    port = sshd[0]
    server = await harness.server(
        name="web-1", address="127.0.0.1", ssh_port=port, ssh_key_ref="env:SSH_KEY_WEB_1"
    )
    # The same machine, but a user our key does not let in.
    await harness.server(
        name="web-2", address="127.0.0.1", ssh_port=port, ssh_user="nobody",
        ssh_key_ref="env:SSH_KEY_WEB_1",
    )  # fmt: skip

    answered = await harness.check(ServerHealthCheck(server_handle="web-1"))
    refused = await harness.check(ServerHealthCheck(server_handle="web-2"))

    assert answered["reachable"] is True, answered["error"]
    assert answered["server_id"] == server["id"]
    # Remembered where deploys look for it (ssh may hash the host's name).
    lookup = await asyncio.create_subprocess_exec(
        "ssh-keygen", "-F", f"[127.0.0.1]:{port}", "-f", str(settings.known_hosts),
        stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await lookup.wait() == 0
    assert refused["reachable"] is False
    assert "Permission denied" in refused["error"]


def run(container: Container, command: str) -> str:
    exit_code, output = container.exec_run(["sh", "-c", command])
    assert exit_code == 0, output
    assert isinstance(output, bytes)
    return output.decode()
