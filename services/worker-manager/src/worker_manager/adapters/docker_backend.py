"""Workers as containers, through the Docker Engine API (Docker, or podman's compatible API).

Images are built from docker/worker-base.Dockerfile per agent type and sorted capabilities and
tagged `<prefix>:<hash>`; a tag that exists is reused. `last_used_at` per image lives in Redis so
garbage collection removes what nobody used for N days — only images of its own prefix.

A worker's workspace is bound at /workspace from its directory under the data directory, except a
PO worker's: its user's named volume (`user_volume`), kept across the user's PO workers.
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
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import docker
import structlog
from docker.errors import APIError, ImageNotFound, NotFound
from redis.asyncio import Redis
from shared.contracts import AgentType, Capability
from shared.keys import WORKER_IMAGES_LAST_USED

from worker_manager.ports import WorkerSpec

log = structlog.get_logger("worker_manager")

DOCKERFILE = Path(__file__).resolve().parents[3] / "docker" / "worker-base.Dockerfile"
LAST_USED = WORKER_IMAGES_LAST_USED.name()
PREFIX_LABEL = "codegen.image-prefix"
WORKER_LABEL = "codegen.worker-id"
HOME_LABEL = "codegen.po-home-of"
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


def image_tag(prefix: str, agent_type: AgentType, capabilities: Iterable[Capability]) -> str:
    key = ",".join([agent_type.value, *sorted({c.value for c in capabilities})])
    return f"{prefix}:{hashlib.sha256(key.encode()).hexdigest()[:16]}"


class WorkerImages:
    def __init__(
        self,
        client: docker.DockerClient,
        redis: Redis,
        *,
        prefix: str,
        base_image: str,
        wheels_dir: Path | None = None,
        repo_root: Path | None = None,
    ) -> None:
        self._client = client
        self._redis = redis
        self.prefix = prefix
        self._base_image = base_image
        self._wheels_dir = wheels_dir
        self._repo_root = repo_root or Path(__file__).resolve().parents[5]
        self._locks: dict[str, asyncio.Lock] = {}

    async def ensure(self, agent_type: AgentType, capabilities: Iterable[Capability]) -> str:
        """The image's id, building it on first use."""
        capabilities = sorted(set(capabilities))
        tag = image_tag(self.prefix, agent_type, capabilities)
        async with self._locks.setdefault(tag, asyncio.Lock()):
            try:
                image = await asyncio.to_thread(self._client.images.get, tag)
            except ImageNotFound:
                log.info("building a worker image", tag=tag, agent_type=agent_type.value)
                image = await asyncio.to_thread(self._build, tag, agent_type, capabilities)
        await self._redis.hset(LAST_USED, tag, str(time.time()))
        return str(image.id)

    def _build(self, tag: str, agent_type: AgentType, capabilities: list[Capability]) -> Any:
        packages = " ".join(CAPABILITY_PACKAGES[c] for c in capabilities if c is not Capability.GIT)
        with tempfile.TemporaryDirectory() as context:
            root = Path(context)
            shutil.copy(DOCKERFILE, root / "Dockerfile")
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


class DockerBackend:
    def __init__(
        self,
        client: docker.DockerClient,
        images: WorkerImages,
        *,
        network_mode: str = "host",
        cpus: float = 1.0,
        memory: str = "2g",
        pids_limit: int = 512,
    ) -> None:
        self._client = client
        self.images = images
        self._network_mode = network_mode
        self._cpus = cpus
        self._memory = memory
        self._pids_limit = pids_limit

    async def start(self, spec: WorkerSpec) -> str:
        image = await self.images.ensure(spec.config.agent_type, spec.config.capabilities)
        if spec.home is not None:
            workspace = await self._user_volume(spec.home.user_id)
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
            volumes={workspace: {"bind": "/workspace", "mode": "rw"}},
            network_mode=self._network_mode,
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
        name = user_volume(self.images.prefix, user_id)
        try:
            await asyncio.to_thread(self._client.volumes.get, name)
        except NotFound:
            labels = {PREFIX_LABEL: self.images.prefix, HOME_LABEL: user_id}
            try:
                await asyncio.to_thread(self._client.volumes.create, name=name, labels=labels)
            except APIError:
                # Made meanwhile by another create for the user: it is there now, or this raises.
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
        if container.status == "paused":
            await asyncio.to_thread(container.unpause)
        await asyncio.to_thread(container.stop, timeout=int(grace_s))
        code = await self.exit_code(handle)
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
