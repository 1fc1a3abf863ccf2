"""The docker backend against a real engine (podman's Docker-compatible API), images built
locally from a Debian root filesystem."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import io
import json
import os
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import pytest
import pytest_asyncio
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Submodules, not `docker`: the repository's docker/ directory is not the Docker SDK.
from docker.client import DockerClient
from docker.errors import NotFound
from manager_testing import ManagerProcess, manager_env, wait_for_answer
from redis.asyncio import Redis
from shared.contracts import (
    AgentType,
    Capability,
    CreateWorkerCommand,
    DeleteWorkerCommand,
    POWorkerInput,
    WorkerConfig,
    WorkerLifecycleEvent,
    WorkerState,
    WorkerType,
)
from shared.streams import RedisStreamPublisher
from shared.streams.wire import encode
from shared.testing.waiting import eventually
from worker_manager.adapters.docker_backend import (
    PREFIX_LABEL,
    WORKSPACE_LABEL,
    Certificates,
    DockerBackend,
    WorkerImages,
    image_tag,
    user_volume,
    workspace_volume,
)
from worker_manager.adapters.redis_status_store import RedisStatusStore
from worker_manager.ports import UserHome, WorkerSpec

BASE_IMAGE = "localhost/codegen-base:bookworm"
PREFIX = f"codegen-test-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def engine(docker_host: str) -> Iterator[DockerClient]:
    client = DockerClient(base_url=docker_host)
    try:
        yield client
    finally:
        # By tag, never by id: the base image may carry a test tag too.
        for image in client.images.list(name=PREFIX):
            for tag in image.tags:
                if tag.split("/")[-1].startswith(f"{PREFIX}:"):
                    client.images.remove(tag)
        client.close()


class CountedImages(WorkerImages):
    """WorkerImages that count their builds."""

    builds = 0

    def _build(
        self,
        tag: str,
        agent_type: AgentType,
        capabilities: list[Capability],
        certificates: Certificates = (),
    ) -> Any:
        CountedImages.builds += 1
        return super()._build(tag, agent_type, capabilities, certificates)


def remove_containers(engine: DockerClient) -> None:
    """Every container of this module's prefix (the backend labels each one it starts)."""
    for container in engine.containers.list(
        all=True, filters={"label": f"codegen.image-prefix={PREFIX}"}, sparse=True
    ):
        with contextlib.suppress(NotFound):
            container.remove(force=True)


def remove_volumes(engine: DockerClient) -> None:
    """Every volume of this module's prefix (the users' PO homes)."""
    for volume in engine.volumes.list(filters={"label": f"codegen.image-prefix={PREFIX}"}):
        volume.remove(force=True)


@pytest_asyncio.fixture
async def backend(engine: DockerClient, redis_client: Redis) -> AsyncIterator[DockerBackend]:
    images = CountedImages(engine, redis_client, prefix=PREFIX, base_image=BASE_IMAGE)
    try:
        yield DockerBackend(engine, images, cpus=1, memory="512m", pids_limit=256)
    finally:
        remove_containers(engine)
        remove_volumes(engine)


def spec(
    tmp_path: Path, worker_id: str, redis_url: str, home: UserHome | None = None, **env: str
) -> WorkerSpec:
    config = WorkerConfig(
        name="w",
        worker_type=WorkerType.PO,
        agent_type=AgentType.SCRIPTED,
        instructions="You are a test PO.",
        capabilities=[Capability.GIT],
    )
    variables = {
        "WORKER_ID": worker_id,
        "WORKER_TYPE": "po",
        "AGENT_TYPE": "scripted",
        "REDIS_URL": redis_url,
        "INSTRUCTIONS": "You are a test PO.",
        "API_KEY": "cgo_test",
        **env,
    }
    return WorkerSpec(
        worker_id, config, variables, tmp_path / worker_id, {"codegen.worker-id": worker_id}, home
    )


@pytest.mark.slow(
    "builds the worker image: apt installs in a Debian root filesystem and the wrapper's wheels "
    "built and downloaded (25-100 s here); the module's other tests reuse it"
)
async def test_an_image_is_built_once_and_then_reused(backend: DockerBackend) -> None:
    first = await backend.images.ensure(AgentType.SCRIPTED, [Capability.GIT])
    builds = CountedImages.builds
    again = await backend.images.ensure(AgentType.SCRIPTED, [Capability.GIT, Capability.GIT])
    assert again == first
    assert CountedImages.builds == builds
    assert image_tag(PREFIX, AgentType.CLAUDE, [Capability.GIT, Capability.CURL]) == image_tag(
        PREFIX, AgentType.CLAUDE, [Capability.CURL, Capability.GIT, Capability.GIT]
    )
    assert image_tag(PREFIX, AgentType.CLAUDE, []) != image_tag(PREFIX, AgentType.CODEX, [])


async def test_a_worker_container_runs_the_wrapper_with_its_environment_and_instructions(
    backend: DockerBackend,
    engine: DockerClient,
    tmp_path: Path,
    redis_url: str,
    redis_client: Redis,
) -> None:
    worker_id = f"po-{uuid.uuid4().hex[:8]}"
    handle = await backend.start(spec(tmp_path, worker_id, redis_url))

    async def started() -> bool:
        return bool(await redis_client.xlen("worker:lifecycle"))

    try:
        await eventually(started, 60)
    except AssertionError:
        print(engine.containers.get(handle).logs().decode()[-2000:])
        raise
    container = engine.containers.get(handle)
    env = dict(item.split("=", 1) for item in container.attrs["Config"]["Env"])
    assert env["WORKER_ID"] == worker_id
    assert env["WORKSPACE_DIR"] == "/workspace"
    assert container.labels["codegen.worker-id"] == worker_id
    host = container.attrs["HostConfig"]
    assert host["CapDrop"]
    assert "no-new-privileges" in str(host["SecurityOpt"])
    assert host["PidsLimit"] == 256
    instructions = await backend.read_file(handle, "/workspace/po/AGENTS.md")
    assert instructions == "You are a test PO."
    assert await backend.exit_code(handle) is None

    container.kill()
    assert await eventually(lambda: backend.exit_code(handle)) == 137
    await backend.remove(handle, worker_id)
    with pytest.raises(NotFound):
        engine.containers.get(handle)


CANARY_HALVES = ("canary-", uuid.uuid4().hex)
# A hostile agent's search for the canary (never written whole where it could read it): in every
# process's environment, in the files under the places it can reach (bounded, so it stays fast)
# and in its own environment. Each read of a place is an attempt; `$HOME/probe.txt` gets
# "attempts leaks", `$HOME/leaks` where it found it.
HOSTILE_PROBE = f"""
pattern="{CANARY_HALVES[0]}""{CANARY_HALVES[1]}"
attempts=0; leaks=0
probe() {{
  attempts=$((attempts + 1))
  if grep -qa "$pattern" "$1" 2>/dev/null; then leaks=$((leaks + 1)); echo "$1" >> "$HOME/leaks"; fi
}}
for f in /proc/[0-9]*/environ; do probe "$f"; done
for f in $(find /workspace /tmp /run /root /opt/worker /etc -xdev -type f -size -256k \
             2>/dev/null | head -n 3000); do probe "$f"; done
env > "$HOME/own-env"; probe "$HOME/own-env"; rm "$HOME/own-env"
echo "$attempts $leaks" > "$HOME/probe.txt"
grep CapEff /proc/1/status > "$HOME/wrapper-capabilities"
"""
# CHOWN, DAC_OVERRIDE, KILL, SETGID and SETUID (bits 0, 1, 5, 6, 7): what the wrapper keeps.
WRAPPER_CAPABILITIES = "CapEff:\t00000000000000e3"


async def test_a_hostile_agent_finds_none_of_the_wrappers_credentials_in_its_container(
    backend: DockerBackend,
    engine: DockerClient,
    tmp_path: Path,
    redis_url: str,
    redis_client: Redis,
) -> None:
    worker_id = f"po-{uuid.uuid4().hex[:8]}"
    workspace = tmp_path / worker_id
    workspace.mkdir()
    turn = {
        "steps": [
            {"run": HOSTILE_PROBE},
            {"write": {"path": "note.txt", "content": "mine\n"}},
            {
                "run": "git init -q . && git add note.txt && git -c user.name=a "
                "-c user.email=a@b commit -qm note"
            },
        ],
        "reply": "looked",
    }
    (workspace / "script.json").write_text(json.dumps({"turns": [turn]}))
    canary = "".join(CANARY_HALVES)
    handle = await backend.start(
        spec(
            tmp_path,
            worker_id,
            redis_url,
            SCRIPTED_AGENT_SCRIPT="/workspace/script.json",
            GIT_TOKEN=canary,
            WRAPPER_SECRET=canary,
        )
    )
    message = POWorkerInput(user_id="u-1", prompt="look around")
    await redis_client.xadd(f"worker:po:{worker_id}:input", encode(message))  # type: ignore[arg-type]

    async def answered() -> bool:
        return bool(await redis_client.xlen(f"worker:po:{worker_id}:output"))

    try:
        await eventually(answered, 60)
    except AssertionError:
        print(engine.containers.get(handle).logs().decode()[-3000:])
        raise
    entries = cast(
        list[tuple[str, dict[str, str]]],
        await redis_client.xrange(f"worker:po:{worker_id}:output"),
    )
    [(_, fields)] = entries
    assert json.loads(fields["data"])["text"] == "looked"
    home = workspace / "home"
    attempts, leaks = map(int, (home / "probe.txt").read_text().split())
    assert attempts > 50
    assert leaks == 0, (home / "leaks").read_text()
    assert (home / "probe.txt").stat().st_uid == 10001  # the image's `agent`
    assert (workspace / "po" / "note.txt").stat().st_uid == 10001
    assert (home / "wrapper-capabilities").read_text().strip() == WRAPPER_CAPABILITIES


async def test_a_users_po_workers_share_a_named_volume_as_their_home(
    backend: DockerBackend,
    engine: DockerClient,
    tmp_path: Path,
    redis_url: str,
    redis_client: Redis,
) -> None:
    user_id = f"telegram:{uuid.uuid4().hex[:8]}"  # ':' is fine in an id, not in a volume name
    home = UserHome(user_id, tmp_path / "po" / user_id)
    first_id, second_id = f"po-{uuid.uuid4().hex[:8]}", f"po-{uuid.uuid4().hex[:8]}"
    volume = user_volume(PREFIX, user_id)
    first = await backend.start(spec(tmp_path, first_id, redis_url, home))
    assert _workspace_mount(engine, first) == ("volume", volume)
    # The wrapper writes its instructions into the home before it says it started.
    await eventually(lambda: _started(redis_client, first_id), 60)
    engine.containers.get(first).kill()
    await backend.remove(first, first_id)

    second = await backend.start(spec(tmp_path, second_id, redis_url, home, INSTRUCTIONS=""))

    assert _workspace_mount(engine, second) == ("volume", volume)
    # What the first worker left in the home is the second's.
    assert await backend.read_file(second, "/workspace/po/AGENTS.md") == "You are a test PO."
    assert engine.volumes.get(volume).attrs["Labels"]["codegen.po-home-of"] == user_id
    assert not home.path.exists()  # the engine keeps the home, not the data directory


def _workspace_mount(engine: DockerClient, handle: str) -> tuple[str, str]:
    mounts = engine.containers.get(handle).attrs["Mounts"]
    [mount] = [m for m in mounts if m["Destination"] == "/workspace"]
    return mount["Type"], mount["Name"]


async def _started(redis: Redis, worker_id: str) -> bool:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange("worker:lifecycle"))
    events = [WorkerLifecycleEvent.model_validate_json(f["data"]) for _, f in entries]
    return any(e.worker_id == worker_id and e.event == "started" for e in events)


async def test_garbage_collection_removes_old_images_of_its_prefix_only(
    backend: DockerBackend, engine: DockerClient, redis_client: Redis, tmp_path: Path
) -> None:
    # An image of its own (not a second tag of the base), which an ended container of ours uses.
    (tmp_path / "Dockerfile").write_text(f"FROM {BASE_IMAGE}\nLABEL test={uuid.uuid4().hex}\n")
    engine.images.build(path=str(tmp_path), tag=f"{PREFIX}:old", rm=True)
    ended = engine.containers.create(
        f"{PREFIX}:old",
        command=["true"],
        labels={"codegen.worker-id": "po-ended", "codegen.image-prefix": PREFIX},
    )
    other = f"codegen-other-{uuid.uuid4().hex[:6]}"
    base = engine.images.get(BASE_IMAGE)
    base.tag(other, "old")
    month_ago = str(time.time() - 30 * 86400)
    await redis_client.hset(
        "worker-images:last-used", mapping={f"{PREFIX}:old": month_ago, f"{other}:old": month_ago}
    )
    fresh = image_tag(PREFIX, AgentType.SCRIPTED, [Capability.GIT])
    await backend.images.ensure(AgentType.SCRIPTED, [Capability.GIT])
    base.tag(PREFIX, "base-alias")  # a second tag of a shared image: untagged, never deleted
    await redis_client.hset("worker-images:last-used", f"{PREFIX}:base-alias", month_ago)
    try:
        removed = await backend.images.collect_garbage(max_idle_days=14)
        assert sorted(removed) == [f"{PREFIX}:base-alias", f"{PREFIX}:old"]
        tags = {t.split("/")[-1] for image in engine.images.list() for t in image.tags}
        assert f"{other}:old" in tags
        assert fresh in tags
        assert f"{PREFIX}:old" not in tags
        assert engine.images.get(BASE_IMAGE).id == base.id
        with pytest.raises(NotFound):
            engine.containers.get(str(ended.id))
    finally:
        engine.images.remove(f"{other}:old")


async def test_a_killed_container_is_failed_from_the_engines_events_and_removed(
    engine: DockerClient,
    docker_host: str,
    redis_url: str,
    redis_client: Redis,
    tmp_path: Path,
) -> None:
    env = manager_env(
        redis_url,
        tmp_path / "workers",
        backend="docker",
        docker_image_prefix=PREFIX,
        docker_base_image=BASE_IMAGE,
        task_timeout_s=60,
        idle_timeout_s=3600,
        # Slower than the test's patience: the death must come from the engine's event stream.
        monitor_interval_s=300,
    )
    env["DOCKER_HOST"] = docker_host  # read by the Docker SDK
    if "UV" in os.environ:
        env["UV"] = os.environ["UV"]  # builds the wheels if this test runs first
    manager = ManagerProcess(env, tmp_path / "manager.log")
    store = RedisStatusStore(redis_client)
    try:
        command = CreateWorkerCommand(
            config=WorkerConfig(
                name="w",
                worker_type=WorkerType.PO,
                agent_type=AgentType.SCRIPTED,
                capabilities=[Capability.GIT],
            )
        )
        await RedisStreamPublisher(redis_client).publish("worker:commands", command)
        response = await wait_for_answer(
            redis_client, "worker:responses:po", command.request_id, within=300
        )
        assert response.success, response.error
        assert response.worker_id is not None
        worker_id = response.worker_id

        async def state() -> WorkerState | None:
            status = await store.status(worker_id)
            return status.state if status else None

        async def running() -> bool:
            return await state() == WorkerState.RUNNING

        await eventually(running, 60)
        record = await store.record(worker_id)
        assert record is not None
        assert record.handle is not None
        handle = record.handle
        engine.containers.get(handle).kill()

        async def failed() -> bool:
            return await state() == WorkerState.FAILED

        await eventually(failed)
        status = await store.status(worker_id)
        assert status is not None
        assert status.exit_code == 137
        assert status.error == "killed: out of memory or SIGKILL (137)"

        def removed() -> bool:
            # Sparse: inspecting a container removed meanwhile fails on podman (500).
            containers = engine.containers.list(all=True, filters={"id": handle}, sparse=True)
            return not containers and not (tmp_path / "workers" / worker_id).exists()

        async def container_and_workspace_removed() -> bool:
            return await asyncio.to_thread(removed)

        await eventually(container_and_workspace_removed)
    finally:
        manager.stop()
        remove_containers(engine)


def container_file(engine: DockerClient, container_id: str, path: str) -> str:
    """A file of a container (created, running or exited), through the engine."""
    stream, _ = engine.containers.get(container_id).get_archive(path)
    with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as archive:
        member = archive.extractfile(archive.getmembers()[0])
        return member.read().decode() if member else ""


def make_ca(name: str) -> bytes:
    """A self-signed CA certificate (PEM), as a TLS-inspecting proxy's would be."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


@pytest.mark.slow(
    "builds a second image, with an extra CA certificate (its first layer comes from the cache)"
)
async def test_an_image_with_an_extra_ca_trusts_it_in_the_system_store_pip_and_node(
    engine: DockerClient, redis_client: Redis, tmp_path: Path
) -> None:
    certs = tmp_path / "certs"
    certs.mkdir()
    pem = make_ca(f"codegen test CA {uuid.uuid4().hex[:6]}")
    (certs / "codegen-test.crt").write_bytes(pem)
    images = WorkerImages(
        engine, redis_client, prefix=PREFIX, base_image=BASE_IMAGE, ca_certs_dir=certs
    )

    image_id = await images.ensure(AgentType.SCRIPTED, [Capability.GIT])

    tag = image_tag(PREFIX, AgentType.SCRIPTED, [Capability.GIT], [("codegen-test.crt", pem)])
    assert tag != image_tag(PREFIX, AgentType.SCRIPTED, [Capability.GIT])
    assert engine.images.get(tag).id == image_id
    container = engine.containers.create(image_id, labels={PREFIX_LABEL: PREFIX})  # not started
    try:
        bundle = container_file(engine, str(container.id), "/etc/ssl/certs/ca-certificates.crt")
        body = "".join(line for line in pem.decode().splitlines() if "-----" not in line)
        assert body in bundle.replace("\n", "")
        pip_conf = container_file(engine, str(container.id), "/etc/pip.conf")
        assert pip_conf == "[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n"
    finally:
        container.remove(force=True)
    env = dict(item.split("=", 1) for item in engine.images.get(tag).attrs["Config"]["Env"])
    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt"
    assert env["NODE_EXTRA_CA_CERTS"] == "/etc/ssl/certs/ca-certificates.crt"


async def test_a_worker_container_joins_the_network_its_network_mode_names(
    backend: DockerBackend, engine: DockerClient, tmp_path: Path, redis_url: str
) -> None:
    name = f"{PREFIX}-net"
    network = engine.networks.create(name)
    try:
        on_network = DockerBackend(
            engine, backend.images, network_mode=name, memory="512m", pids_limit=256
        )
        worker_id = f"po-{uuid.uuid4().hex[:8]}"
        handle = await on_network.start(spec(tmp_path, worker_id, redis_url))

        networks = engine.containers.get(handle).attrs["NetworkSettings"]["Networks"]
        assert list(networks) == [name]
    finally:
        remove_containers(engine)
        network.remove()


def manager_on_docker(
    docker_host: str, redis_url: str, tmp_path: Path, **settings: object
) -> ManagerProcess:
    env = manager_env(
        redis_url,
        tmp_path / "workers",
        backend="docker",
        docker_image_prefix=PREFIX,
        docker_base_image=BASE_IMAGE,
        task_timeout_s=60,
        idle_timeout_s=3600,
        **settings,
    )
    env["DOCKER_HOST"] = docker_host  # read by the Docker SDK
    if "UV" in os.environ:
        env["UV"] = os.environ["UV"]  # builds the wheels if this test runs first
    return ManagerProcess(env, tmp_path / "manager.log")


# The agent reads the shared volume and tries to write into the read-only scripts directory,
# which its permissions would allow (0777): only the mount's ro stops it.
LOOK_AROUND = """
cat /srv/shared/seed > "$HOME/seen"
if touch /srv/scripts/probe 2> "$HOME/ro-error"; then echo "wrote" > "$HOME/ro-error"; fi
"""


async def test_a_worker_works_in_a_volume_of_its_own_and_sees_the_extra_mounts(
    backend: DockerBackend,
    engine: DockerClient,
    docker_host: str,
    redis_url: str,
    redis_client: Redis,
    tmp_path: Path,
) -> None:
    # The module's image, built here if this test runs first (the manager's environment is
    # too bare for `uv build` behind this machine's proxy).
    await backend.images.ensure(AgentType.SCRIPTED, [Capability.GIT])
    shared = f"{PREFIX}-shared"
    engine.volumes.create(shared, labels={PREFIX_LABEL: PREFIX})
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    scripts.chmod(0o777)
    turn = {"steps": [{"run": LOOK_AROUND}], "reply": "looked"}
    (scripts / "script.json").write_text(json.dumps({"turns": [turn]}))
    # Workers reach Redis at the address they are given, not at worker-manager's.
    worker_redis_url = redis_url.replace("127.0.0.1", "localhost")
    assert worker_redis_url != redis_url
    manager = manager_on_docker(
        docker_host,
        redis_url,
        tmp_path,
        workspace_storage="volume",
        worker_volumes=f"{shared}:/srv/shared,{scripts}:/srv/scripts:ro",
        worker_redis_url=worker_redis_url,
        api_url="http://api.codegen.test:8000",
        monitor_interval_s=0.5,
    )
    publisher = RedisStreamPublisher(redis_client)
    store = RedisStatusStore(redis_client)
    try:
        engine.containers.run(
            BASE_IMAGE,
            ["sh", "-c", "echo seeded > /v/seed"],
            volumes=[f"{shared}:/v"],
            labels={PREFIX_LABEL: PREFIX},
            remove=True,
        )
        config = WorkerConfig(
            name="w",
            worker_type=WorkerType.PO,
            agent_type=AgentType.SCRIPTED,
            capabilities=[Capability.GIT],
            env_vars={"SCRIPTED_AGENT_SCRIPT": "/srv/scripts/script.json"},
        )
        create = CreateWorkerCommand(config=config)
        await publisher.publish("worker:commands", create)
        response = await wait_for_answer(
            redis_client, "worker:responses:po", create.request_id, within=300
        )
        assert response.success, response.error
        assert response.worker_id is not None
        worker_id = response.worker_id
        message = POWorkerInput(user_id="u-1", prompt="look around")
        await redis_client.xadd(f"worker:po:{worker_id}:input", encode(message))  # type: ignore[arg-type]

        async def answered() -> bool:
            return bool(await redis_client.xlen(f"worker:po:{worker_id}:output"))

        await eventually(answered, 60)
        record = await store.record(worker_id)
        assert record is not None
        assert record.handle is not None
        handle = record.handle
        volume = workspace_volume(PREFIX, worker_id)
        assert _workspace_mount(engine, handle) == ("volume", volume)
        labels = engine.volumes.get(volume).attrs["Labels"]
        assert labels[PREFIX_LABEL] == PREFIX
        assert labels[WORKSPACE_LABEL] == worker_id
        assert not (tmp_path / "workers" / worker_id).exists()  # nothing on worker-manager's side
        assert container_file(engine, handle, "/workspace/home/seen") == "seeded\n"
        ro_error = container_file(engine, handle, "/workspace/home/ro-error")
        assert "Read-only file system" in ro_error
        env = dict(
            item.split("=", 1) for item in engine.containers.get(handle).attrs["Config"]["Env"]
        )
        assert urlsplit(env["REDIS_URL"]).hostname == "localhost"
        assert env["API_URL"] == "http://api.codegen.test:8000"

        delete = DeleteWorkerCommand(worker_id=worker_id)
        await publisher.publish("worker:commands", delete)
        deleted = await wait_for_answer(redis_client, "worker:responses:po", delete.request_id)
        assert deleted.success, deleted.error

        def gone() -> bool:
            containers = engine.containers.list(all=True, filters={"id": handle}, sparse=True)
            return not containers and not engine.volumes.list(filters={"name": volume})

        async def container_and_volume_removed() -> bool:
            return await asyncio.to_thread(gone)

        await eventually(container_and_volume_removed)
        engine.volumes.get(shared)  # an extra mount is nobody's to remove
    finally:
        manager.stop()
        remove_containers(engine)
        remove_volumes(engine)


async def test_the_watcher_removes_workspace_volumes_no_worker_explains(
    engine: DockerClient,
    docker_host: str,
    redis_url: str,
    redis_client: Redis,
    tmp_path: Path,
) -> None:
    other_prefix = f"codegen-other-{uuid.uuid4().hex[:6]}"

    def volume(prefix: str, worker_id: str) -> str:
        name = workspace_volume(prefix, worker_id)
        engine.volumes.create(name, labels={PREFIX_LABEL: prefix, WORKSPACE_LABEL: worker_id})
        return name

    other = workspace_volume(other_prefix, "developer-other")
    manager: ManagerProcess | None = None
    try:
        orphan = volume(PREFIX, "developer-orphan")
        held = volume(PREFIX, "developer-held")
        live = volume(PREFIX, "developer-live")
        volume(other_prefix, "developer-other")
        home = user_volume(PREFIX, "someone")
        engine.volumes.create(home, labels={PREFIX_LABEL: PREFIX, "codegen.po-home-of": "someone"})
        await RedisStatusStore(redis_client).create("developer-live", WorkerType.DEVELOPER)
        engine.containers.run(
            BASE_IMAGE,
            ["sleep", "infinity"],
            detach=True,
            stop_signal="SIGKILL",  # sleep, as pid 1, ignores SIGTERM
            volumes=[f"{held}:/w"],
            labels={PREFIX_LABEL: PREFIX},
        )
        manager = manager_on_docker(
            docker_host, redis_url, tmp_path, workspace_storage="volume", monitor_interval_s=0.2
        )

        def orphan_removed() -> bool:
            return not engine.volumes.list(filters={"name": orphan})

        async def removed() -> bool:
            return await asyncio.to_thread(orphan_removed)

        async def held_kept() -> bool:
            # The engine refused: a volume in use is never removed.
            lines = manager.logs().splitlines() if manager else []
            return any(
                "kept a workspace volume in use" in line and "developer-held" in line
                for line in lines
            )

        await eventually(removed)
        await eventually(held_kept)
        for name in (held, live, other, home):
            engine.volumes.get(name)
    finally:
        if manager is not None:
            manager.stop()
        remove_containers(engine)
        remove_volumes(engine)
        with contextlib.suppress(NotFound):
            engine.volumes.get(other).remove(force=True)
