"""Workers as containers, through the Docker Engine API (Docker, or podman's compatible API).

Images are built from the package's docker/worker-base.Dockerfile (it ships in the wheel) per
agent type, sorted capabilities and extra CA certificates, and tagged `<prefix>:<hash>`; a tag
that exists is reused. `last_used_at` per image lives in Redis so garbage collection removes what
nobody used for N days — only images of its own prefix.

A worker's workspace is bound at /workspace from its directory under the data directory, or is a
named volume of its own (`workspace_volume`, WORKSPACE_STORAGE=volume: the engine cannot bind a
directory of worker-manager's own container), except a PO worker's: its user's named volume
(`user_volume`), kept across the user's PO workers. Extra mounts (WORKER_VOLUMES) go into every
worker container.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any, Literal, cast

import structlog
from docker.client import DockerClient
from docker.errors import APIError, ImageNotFound, NotFound
from redis.asyncio import Redis
from shared.contracts import AgentType, Capability
from shared.keys import WORKER_IMAGES_LAST_USED

from worker_manager.adapters.fs_workspaces import LocalWorkspaces
from worker_manager.ports import WorkerMount, WorkerSpec

log = structlog.get_logger("worker_manager")

# Package data, so it is there wherever worker-manager is installed (a wheel in a container).
DOCKERFILE = resources.files("worker_manager") / "docker" / "worker-base.Dockerfile"
LAST_USED = WORKER_IMAGES_LAST_USED.name()
PREFIX_LABEL = "codegen.image-prefix"
WORKER_LABEL = "codegen.worker-id"
HOME_LABEL = "codegen.po-home-of"
WORKSPACE_LABEL = "codegen.workspace-of"
# Network modes of the engine itself; anything else names a network (a compose project's).
NETWORK_MODES = frozenset({"host", "bridge", "none", "default", "private", "slirp4netns", "pasta"})
ENDED = ("exited", "dead", "created")
CAPABILITY_PACKAGES = {
    Capability.GIT: "git",
    Capability.CURL: "curl",
    Capability.GITHUB_CLI: "gh",
    Capability.DOCKER: "docker.io",
}
WRAPPER_PACKAGES = ("shared", "orchestrator-cli", "worker-wrapper")
# What root in a worker's container keeps of its capabilities: what starting the agent as another
# user takes (the image's `agent`, AGENT_USER), nothing else.
AGENT_SWITCH_CAPABILITIES = ["CHOWN", "DAC_OVERRIDE", "KILL", "SETGID", "SETUID"]
AGENT_USER = "agent"


def user_volume(prefix: str, user_id: str) -> str:
    """A user's PO home volume: `<prefix>-po-home-<digest of the user id>` (a volume's name
    allows fewer characters than a user id; the id itself is its label)."""
    return f"{prefix}-po-home-{hashlib.sha256(user_id.encode()).hexdigest()[:24]}"


def workspace_volume(prefix: str, worker_id: str) -> str:
    """A worker's own workspace volume (WORKSPACE_STORAGE=volume): `<prefix>-ws-<digest of the
    worker id>`; the id itself is its label."""
    return f"{prefix}-ws-{hashlib.sha256(worker_id.encode()).hexdigest()[:24]}"


Certificates = Sequence[tuple[str, bytes]]
"""Extra CA certificates for worker images: (file name, PEM bytes), sorted by name."""


def read_certificates(directory: Path | None) -> list[tuple[str, bytes]]:
    """The `*.crt` files of `directory` (none without one)."""
    if directory is None:
        return []
    return sorted((p.name, p.read_bytes()) for p in directory.glob("*.crt") if p.is_file())


def image_tag(
    prefix: str,
    agent_type: AgentType,
    capabilities: Iterable[Capability],
    certificates: Certificates = (),
    release: str = "",
) -> str:
    """`<prefix>:<hash>` of the agent type, the sorted capabilities and, when there are any, the
    extra CA certificates' names and bytes: adding, changing or removing one builds anew. So
    does a new `release` (what the image is built from: `wheels_release`)."""
    key = ",".join([agent_type.value, *sorted({c.value for c in capabilities})])
    if release:
        key += f";release={release}"
    if certificates:
        digest = hashlib.sha256()
        for name, data in sorted(certificates):
            digest.update(hashlib.sha256(name.encode()).digest())
            digest.update(hashlib.sha256(data).digest())
        key += f";ca={digest.hexdigest()}"
    return f"{prefix}:{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def wheels_release(wheels_dir: Path) -> str:
    """A digest of the Dockerfile and of every wheel's name and bytes in `wheels_dir`: an
    upgraded worker-manager (new wheels of the wrapper) builds new worker images instead of
    reusing the ones of the release before."""
    digest = hashlib.sha256(DOCKERFILE.read_bytes())
    for wheel in sorted(wheels_dir.glob("*.whl")):
        digest.update(wheel.name.encode())
        digest.update(hashlib.sha256(wheel.read_bytes()).digest())
    return digest.hexdigest()


def write_context(root: Path, certificates: Certificates) -> None:
    """The build context but the wheels: the Dockerfile and `certs/` (empty without extra
    certificates: the image is then as it would be without them)."""
    (root / "Dockerfile").write_bytes(DOCKERFILE.read_bytes())
    certs = root / "certs"
    certs.mkdir()
    for name, data in certificates:
        (certs / name).write_bytes(data)


class WorkerImages:
    def __init__(
        self,
        client: DockerClient,
        redis: Redis,
        *,
        prefix: str,
        base_image: str,
        wheels_dir: Path | None = None,
        repo_root: Path | None = None,
        ca_certs_dir: Path | None = None,
    ) -> None:
        self._client = client
        self._redis = redis
        self.prefix = prefix
        self._base_image = base_image
        self._wheels_dir = wheels_dir
        self._repo_root = repo_root or Path(__file__).resolve().parents[5]
        self._ca_certs_dir = ca_certs_dir
        self._locks: dict[str, asyncio.Lock] = {}
        # Prebuilt wheels are fixed for the process's life; built from source, each build uses
        # the tree of the moment (the tests' images, reused across runs by tag).
        self._release = wheels_release(wheels_dir) if wheels_dir is not None else ""
        if wheels_dir is None and not (self._repo_root / "uv.lock").is_file():
            raise ValueError(
                "worker images need the wrapper's wheels: set WORKER_WHEELS_DIR (worker-manager "
                f"is not running from its source tree, {self._repo_root} has no uv.lock)"
            )

    async def ensure(self, agent_type: AgentType, capabilities: Iterable[Capability]) -> str:
        """The image's id, building it on first use."""
        capabilities = sorted(set(capabilities))
        # Read at every ensure: a certificate added meanwhile makes a new tag, so a new build.
        certificates = await asyncio.to_thread(read_certificates, self._ca_certs_dir)
        tag = image_tag(self.prefix, agent_type, capabilities, certificates, self._release)
        async with self._locks.setdefault(tag, asyncio.Lock()):
            try:
                image = await asyncio.to_thread(self._client.images.get, tag)
            except ImageNotFound:
                log.info("building a worker image", tag=tag, agent_type=agent_type.value)
                image = await asyncio.to_thread(
                    self._build, tag, agent_type, capabilities, certificates
                )
        await self._redis.hset(LAST_USED, tag, str(time.time()))
        return str(image.id)

    def _build(
        self,
        tag: str,
        agent_type: AgentType,
        capabilities: list[Capability],
        certificates: Certificates = (),
    ) -> Any:
        packages = " ".join(CAPABILITY_PACKAGES[c] for c in capabilities if c is not Capability.GIT)
        with tempfile.TemporaryDirectory() as context:
            root = Path(context)
            write_context(root, certificates)
            self._wheels(root / "wheels")
            image, _ = self._client.images.build(
                path=str(root),
                tag=tag,
                rm=True,
                network_mode="host",
                buildargs={
                    "BASE_IMAGE": self._base_image,
                    "AGENT_TYPE": agent_type.value,
                    "CAPABILITY_PACKAGES": packages,
                },
                labels={
                    "codegen.image-prefix": self.prefix,
                    "codegen.agent-type": agent_type.value,
                },
            )
        return image

    def _wheels(self, target: Path) -> None:
        """The wrapper's wheels and its dependencies' (as locked), so the build is offline."""
        target.mkdir()
        if self._wheels_dir is not None:
            for wheel in self._wheels_dir.glob("*.whl"):
                shutil.copy(wheel, target)
            return
        run = functools.partial(
            subprocess.run, cwd=self._repo_root, check=True, capture_output=True
        )
        uv = os.environ.get("UV", "uv")  # `uv run` names the uv that runs us
        for package in WRAPPER_PACKAGES:
            run([uv, "build", "--wheel", "--package", package, "--out-dir", str(target)])
        requirements = target / "requirements.txt"
        run(
            [
                uv,
                "export",
                "--frozen",
                "--package",
                "worker-wrapper",
                "--no-dev",
                "--no-emit-workspace",
                "--no-hashes",
                "--output-file",
                str(requirements),
            ]
        )
        # Markers are for the image's Python, not ours (bookworm's 3.11.2 needs async-timeout, for
        # one): download every locked wheel and let pip in the image pick what it needs.
        lines = requirements.read_text().splitlines()
        requirements.write_text("\n".join(line.split(" ;")[0] for line in lines) + "\n")
        run(
            [
                uv,
                "tool",
                "run",
                "pip",
                "download",
                "--quiet",
                "--disable-pip-version-check",
                "--only-binary=:all:",
                "--dest",
                str(target),
                "--requirement",
                str(requirements),
            ]
        )

    async def collect_garbage(self, max_idle_days: float) -> list[str]:
        """Remove this prefix's images unused for `max_idle_days`; returns the removed tags.

        An image never recorded as used counts from its creation. An image a container still
        uses is kept (removal without force fails), and so is one being ensured right now.
        """
        cutoff = time.time() - max_idle_days * 86400
        used = cast(dict[str, str], await self._redis.hgetall(LAST_USED))
        images = await asyncio.to_thread(self._client.images.list, name=self.prefix)
        removed = []
        for image in images:
            for tag in image.tags:
                name = tag.split("/")[-1]
                if not name.startswith(f"{self.prefix}:"):
                    continue
                last_used = float(used.get(name) or _created(image.attrs.get("Created")))
                if last_used >= cutoff:
                    continue
                async with self._locks.setdefault(name, asyncio.Lock()):
                    await self._remove_ended_containers(str(image.id))
                    try:
                        await asyncio.to_thread(self._client.images.remove, tag)
                    except APIError as exc:
                        log.info("kept an image still in use", tag=name, reason=str(exc))
                        continue
                await self._redis.hdel(LAST_USED, name)
                removed.append(name)
        return removed

    async def _remove_ended_containers(self, image_id: str) -> None:
        """Ended worker containers of ours on the image, which would keep it: a worker's
        container is removed when it ends, so these are left over from a crash."""
        # Sparse: the list's own fields, no inspection of each container, which fails (500 on
        # podman) for one removed in between.
        containers = await asyncio.to_thread(
            self._client.containers.list, all=True, filters={"label": WORKER_LABEL}, sparse=True
        )
        for container in containers:
            used = container.attrs.get("ImageID") or container.attrs.get("Image") or ""
            if container.status in ENDED and _same_image(str(used), image_id):
                with contextlib.suppress(NotFound):
                    await asyncio.to_thread(container.remove, force=True)
                log.info("removed an ended worker container", container=container.short_id)


def _same_image(a: str, b: str) -> bool:
    return bool(a) and a.removeprefix("sha256:") == b.removeprefix("sha256:")


def _created(value: object) -> float:
    """An image's creation time as the engine reports it (RFC 3339, nanoseconds), else now."""
    if isinstance(value, str) and value:
        seconds = value.split(".")[0].removesuffix("Z")
        return datetime.fromisoformat(seconds).replace(tzinfo=UTC).timestamp()
    return time.time()


def network_options(mode: str) -> tuple[str | None, str | None]:
    """containers.run's `network_mode` and `network` for DOCKER_NETWORK_MODE: an engine's mode
    (`host`, `bridge`, `none`, `container:<id>`, ...) is a network mode; anything else names a
    network (a compose project's `<project>_default`), given as `network`, which attaches the
    container to it as `docker run --network` does (the Docker SDK names it in the create's
    endpoints as well as in its network mode; podman takes either)."""
    if mode in NETWORK_MODES or mode.startswith(("container:", "ns:")):
        return mode, None
    return None, mode


class VolumeWorkspaces(LocalWorkspaces):
    """Workspaces on named volumes (WORKSPACE_STORAGE=volume): DockerBackend.start makes a
    worker's own volume; it is removed with the worker's remains, after its container (and so is
    a directory left by a run with directory storage). A volume in use is never removed: the
    engine refuses, and the next pass tries again."""

    def __init__(self, client: DockerClient, root: Path, *, prefix: str) -> None:
        super().__init__(root)
        self._client = client
        self._prefix = prefix

    async def remove(self, worker_id: str) -> None:
        await super().remove(worker_id)
        name = workspace_volume(self._prefix, worker_id)
        try:
            volume = await asyncio.to_thread(self._client.volumes.get, name)
            await asyncio.to_thread(volume.remove)
        except NotFound:
            return
        except APIError as exc:
            log.warning("kept a workspace volume in use", worker_id=worker_id, error=str(exc))
            return
        log.info("removed a workspace volume", worker_id=worker_id, volume=name)

    async def kept(self) -> set[str]:
        """The workers whose workspace volumes of this prefix exist."""
        volumes = await asyncio.to_thread(
            self._client.volumes.list,
            filters={"label": [f"{PREFIX_LABEL}={self._prefix}", WORKSPACE_LABEL]},
        )
        found = set()
        for volume in volumes:
            labels = volume.attrs.get("Labels") or {}
            worker_id = labels.get(WORKSPACE_LABEL)
            ours = labels.get(PREFIX_LABEL) == self._prefix
            if ours and worker_id and volume.name == workspace_volume(self._prefix, worker_id):
                found.add(worker_id)
        return found


class DockerBackend:
    def __init__(
        self,
        client: DockerClient,
        images: WorkerImages,
        *,
        network_mode: str = "host",
        cpus: float = 1.0,
        memory: str = "2g",
        pids_limit: int = 512,
        mounts: Sequence[WorkerMount] = (),
        workspace_storage: Literal["directory", "volume"] = "directory",
    ) -> None:
        self._client = client
        self.images = images
        self._network_mode, self._network = network_options(network_mode)
        self._cpus = cpus
        self._memory = memory
        self._pids_limit = pids_limit
        self._mounts = [f"{m.source}:{m.target}:{'ro' if m.read_only else 'rw'}" for m in mounts]
        self._workspace_storage = workspace_storage

    async def start(self, spec: WorkerSpec) -> str:
        image = await self.images.ensure(spec.config.agent_type, spec.config.capabilities)
        if spec.home is not None:
            workspace = await self._user_volume(spec.home.user_id)
        elif self._workspace_storage == "volume":
            # Nothing of it on worker-manager's side: the engine holds it, whoever asks.
            workspace = await self._volume(
                workspace_volume(self.images.prefix, spec.worker_id),
                {WORKSPACE_LABEL: spec.worker_id},
            )
        else:
            spec.workspace.mkdir(parents=True, exist_ok=True)
            workspace = str(spec.workspace)
        env = {
            **spec.env,
            "WORKSPACE_DIR": "/workspace",
            "HOME": "/workspace/home",
            "AGENT_USER": AGENT_USER,
        }
        env.pop("PATH", None)  # the image's PATH finds the wrapper
        container = await asyncio.to_thread(
            self._client.containers.run,
            image,
            detach=True,
            name=spec.worker_id,
            environment=env,
            labels={**spec.labels, PREFIX_LABEL: self.images.prefix},
            # Binds as strings: one source may go to two targets (a dict would keep one).
            volumes=[f"{workspace}:/workspace:rw", *self._mounts],
            network_mode=self._network_mode,
            network=self._network,
            nano_cpus=int(self._cpus * 1e9),
            mem_limit=self._memory,
            pids_limit=self._pids_limit,
            # The wrapper is root in the container and starts the agent as its own user
            # (AGENT_USER): it changes user (SETUID, SETGID), hands the agent its directories
            # (CHOWN), works in them (DAC_OVERRIDE) and kills the agent's processes (KILL).
            user="root",
            cap_drop=["ALL"],
            cap_add=AGENT_SWITCH_CAPABILITIES,
            security_opt=["no-new-privileges"],
        )
        return str(container.id)

    async def _user_volume(self, user_id: str) -> str:
        """The user's PO home, a named volume kept across their workers (and by the engine,
        wherever worker-manager runs); made on first use."""
        return await self._volume(user_volume(self.images.prefix, user_id), {HOME_LABEL: user_id})

    async def _volume(self, name: str, labels: dict[str, str]) -> str:
        """The named volume, made with these labels (and the prefix's) if it is not there."""
        try:
            await asyncio.to_thread(self._client.volumes.get, name)
        except NotFound:
            labels = {PREFIX_LABEL: self.images.prefix, **labels}
            try:
                await asyncio.to_thread(self._client.volumes.create, name=name, labels=labels)
            except APIError:
                # Made meanwhile by another create: it is there now, or this raises.
                await asyncio.to_thread(self._client.volumes.get, name)
        return name

    async def exit_code(self, handle: str) -> int | None:
        try:
            container = await asyncio.to_thread(self._client.containers.get, handle)
        except NotFound:
            return -1
        state = container.attrs["State"]
        if state.get("Status") in ("created", "running", "paused", "restarting"):
            return None
        if state.get("OOMKilled"):
            return 137
        return int(state.get("ExitCode", -1))

    async def stop(self, handle: str, grace_s: float) -> int | None:
        try:
            container = await asyncio.to_thread(self._client.containers.get, handle)
        except NotFound:
            return None
        # Once it has stopped, its `die` event may have it removed (the engine-deaths follower)
        # before this does: gone is as good as removed.
        try:
            if container.status == "paused":
                await asyncio.to_thread(container.unpause)
            await asyncio.to_thread(container.stop, timeout=int(grace_s))
        except NotFound:
            return None
        code = await self.exit_code(handle)
        with contextlib.suppress(NotFound):
            await asyncio.to_thread(container.remove, force=True)
        return code

    async def remove(self, handle: str, worker_id: str) -> None:
        try:
            container = await asyncio.to_thread(self._client.containers.get, handle)
            await asyncio.to_thread(container.remove, force=True)
        except NotFound:
            return

    async def pause(self, handle: str) -> None:
        container = await asyncio.to_thread(self._client.containers.get, handle)
        await asyncio.to_thread(container.pause)

    async def resume(self, handle: str) -> None:
        container = await asyncio.to_thread(self._client.containers.get, handle)
        await asyncio.to_thread(container.unpause)

    async def deaths(self) -> AsyncIterator[tuple[str, int]]:
        """(worker id, exit code) as the engine reports containers dying (`die`, after `oom`)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        # Filtered here, not by the engine: podman's compatible API drops filtered events.
        stream = await asyncio.to_thread(self._client.events, decode=True)

        def pump() -> None:
            for event in stream:
                loop.call_soon_threadsafe(queue.put_nowait, event)
            loop.call_soon_threadsafe(queue.put_nowait, {})

        reader = loop.run_in_executor(None, pump)
        oom_killed: set[str] = set()
        try:
            while event := await queue.get():
                attributes = event.get("Actor", {}).get("Attributes", {})
                worker_id = attributes.get(WORKER_LABEL)
                action = event.get("Action") or event.get("status")
                if event.get("Type") != "container" or not worker_id:
                    continue
                if action == "oom":
                    oom_killed.add(worker_id)
                elif action == "die":
                    code = 137 if worker_id in oom_killed else int(attributes.get("exitCode", -1))
                    yield worker_id, code
        finally:
            stream.close()
            await asyncio.wait({reader}, timeout=5)

    async def read_file(self, handle: str, path: str) -> str:
        """A file from inside a worker's container (for diagnostics and tests)."""
        container = await asyncio.to_thread(self._client.containers.get, handle)
        stream, _ = await asyncio.to_thread(container.get_archive, path)
        data = io.BytesIO(b"".join(stream))
        with tarfile.open(fileobj=data) as archive:
            member = archive.extractfile(archive.getmembers()[0])
            return member.read().decode() if member else ""
