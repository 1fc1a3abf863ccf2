"""Production mode under test: the images built from the local base image, one compose project of
the repository's compose.yaml with the test's own `.env`, and what the project leaves behind.

The project drives podman-compose against podman; worker-manager, inside the project, makes
workers through podman's Docker-compatible socket (the session's `docker_host`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from codegen_stack.demo.run import default_script

REPO = Path(__file__).resolve().parents[2]
BASE_IMAGE = "localhost/codegen-base:bookworm"
IMAGE_PREFIX = "codegen-test"
IMAGE_TAG = "compose"
# A fixed name, so an earlier run's remains are found and removed, and worker images are reused.
PROJECT = "codegen-compose-test"
WORKER_IMAGE_PREFIX = f"{PROJECT}-worker"
SCALED = ("langgraph", "scaffolder", "infra-service")
TARGET_IMAGE = f"{IMAGE_PREFIX}-target:{IMAGE_TAG}"
TARGET_CONTEXT = Path(__file__).parent / "target"
# The variables a test run must not hand podman-compose from the user's environment: compose
# reads them for its own interpolation before `.env`.
SERVICE_VARIABLES = ("REDIS_URL", "DATABASE_URL", "API_URL", "API_KEY", "DOCKER_HOST")


def extra_ca_dir() -> Path | None:
    """The host's extra CA certificates (a TLS-inspecting proxy's), which the images must trust
    for pip inside them to reach PyPI; none on most machines."""
    directory = Path("/usr/local/share/ca-certificates")
    return directory if any(directory.glob("*.crt")) else None


def podman(*argv: str, check: bool = True, timeout: float = 600) -> str:
    done = subprocess.run(
        ["podman", *argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"podman {' '.join(argv)}: {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def build_images(services: Sequence[str] = ()) -> None:
    """Every service's image and the stand-ins for postgres:16 and redis:7, from the local base
    (scripts/build-images; layers the engine has already are reused)."""
    env = _clean_env() | {
        "CONTAINER_ENGINE": "podman",
        "BASE_IMAGE": BASE_IMAGE,
        "IMAGE_PREFIX": IMAGE_PREFIX,
        "IMAGE_TAG": IMAGE_TAG,
        "STANDINS": "1",
    }
    if (ca := extra_ca_dir()) is not None:
        env["EXTRA_CA_DIR"] = str(ca)
    done = subprocess.run(
        [str(REPO / "scripts" / "build-images"), *services],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"scripts/build-images failed: {done.stderr[-4000:]}")


def build_target_image() -> None:
    """The deploy target: an SSH server as a fresh VPS is (target/Dockerfile)."""
    with _context_with_certs(TARGET_CONTEXT) as directory:
        podman(
            "build", "--quiet", "--network", "host", "--build-arg", f"BASE_IMAGE={BASE_IMAGE}",
            "--tag", TARGET_IMAGE, str(directory),
        )  # fmt: skip


def image_size_mb(image: str) -> float:
    return int(podman("image", "inspect", image, "--format", "{{.Size}}").strip()) / 1e6


def new_service_key() -> str:
    return "cgo_" + secrets.token_urlsafe(32)


def prepare_project(directory: Path, docker_host: str, *, telegram_id: int) -> ComposeProject:
    """The project as the test runs it, in `directory`: its `.env` (fresh secrets, the scripted
    agents with the demo's script, the local forge, telegram-bot's local chat, the test images),
    the secrets directory with the target's SSH key, and an override that adds the target (an
    SSH server) and publishes Redis on loopback for the test's chat."""
    # The engine's socket as Docker's is: its group may use it (compose adds DOCKER_GID).
    Path(docker_host.removeprefix("unix://")).chmod(0o660)
    key = directory / "id_target"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "compose-test", "-f", str(key)],
        check=True,
    )
    secrets_dir = _readable_dir(directory / "secrets")
    _readable_dir(secrets_dir / "ssh")
    shutil.copy(key, secrets_dir / "ssh" / "target")
    (secrets_dir / "ssh" / "target").chmod(0o644)  # the services' uid reads it
    scripts = _readable_dir(directory / "scripts")
    shutil.copy(default_script(), scripts / "script.json")
    (scripts / "script.json").chmod(0o644)
    redis_port = _free_port()
    override = directory / "compose.test.yaml"
    target = {
        "image": TARGET_IMAGE,
        "restart": "unless-stopped",
        "environment": {"AUTHORIZED_KEY": key.with_suffix(".pub").read_text().strip()},
    }
    services = {"redis": {"ports": [f"127.0.0.1:{redis_port}:6379"]}, "target": target}
    override.write_text(json.dumps({"services": services}))
    settings = {
        "COMPOSE_PROJECT_NAME": PROJECT,
        "IMAGE_PREFIX": IMAGE_PREFIX,
        "IMAGE_TAG": IMAGE_TAG,
        "BASE_IMAGE": BASE_IMAGE,
        "POSTGRES_IMAGE": f"{IMAGE_PREFIX}-postgres:16",
        "REDIS_IMAGE": f"{IMAGE_PREFIX}-redis:7",
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
        "SERVICE_API_KEY": new_service_key(),
        "API_PUBLISH": f"127.0.0.1:{_free_port()}",
        "ADMIN_TELEGRAM_ID": str(telegram_id),
        "TELEGRAM_MODE": "local",
        "AGENT": "scripted",
        "TESTER_AGENT": "scripted",
        "SCRIPTED_AGENT_SCRIPT": "/scripts/script.json",
        "EXTRA_WORKER_VOLUMES": f",{scripts}:/scripts:ro",
        "FORGE": "local",
        "FORGE_URL": "/srv/forge",
        "DEPLOY_SERVER": "target",
        "SECRETS_PATH": str(secrets_dir),
        "VM_STEPS_CHECK_MODE": "true",
        "DOCKER_SOCKET": docker_host.removeprefix("unix://"),
        "DOCKER_GID": "0",
        "MAX_WORKERS": "4",
        # A scaffold takes seconds here: the one a killed replica held goes on within a minute.
        "SCAFFOLDER_CLAIM_IDLE_S": "60",
        "LOG_LEVEL": "INFO",
    }
    return ComposeProject(directory, settings, [override], redis_port=redis_port)


class ComposeProject:
    """The repository's compose.yaml (and `overrides`), as project PROJECT, with `settings` as
    its `.env`."""

    def __init__(
        self,
        directory: Path,
        settings: Mapping[str, str],
        overrides: Sequence[Path] = (),
        *,
        redis_port: int,
    ) -> None:
        self.directory = directory
        self.settings = dict(settings)
        self.redis_port = redis_port
        self.api_url = f"http://{settings['API_PUBLISH']}"
        self.env_file = directory / ".env"
        lines = [f"{name}={_quoted(value)}" for name, value in settings.items()]
        self.env_file.write_text("\n".join(lines) + "\n")
        self.env_file.chmod(0o600)
        self._files = [REPO / "compose.yaml", *overrides]

    def compose(self, *argv: str, timeout: float = 900) -> str:
        files = [arg for path in self._files for arg in ("-f", str(path))]
        command = [str(REPO / ".venv" / "bin" / "podman-compose"), "--env-file", str(self.env_file)]
        done = subprocess.run(
            [*command, "-p", PROJECT, *files, *argv],
            cwd=self.directory,
            env=_compose_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"podman-compose {' '.join(argv)}: {done.returncode}:\n"
                f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            )
        return done.stdout

    def up(self) -> None:
        """As `scripts/production up` on podman: the servers and the migration first, then the
        rest (podman-compose's dependency handling trips over podman 4.3's)."""
        self.compose("up", "-d", "--no-deps", "postgres", "redis", "migrate")
        code = podman("wait", f"{PROJECT}_migrate_1", timeout=300).strip()
        if code != "0":
            raise RuntimeError(f"migrate exited {code}:\n{self.logs(f'{PROJECT}_migrate_1')}")
        self.compose("up", "-d", "--no-deps")

    def containers(self, service: str | None = None, *, every: bool = False) -> list[str]:
        """The names of the project's containers (of one service), running ones unless `every`."""
        filters = ["--filter", f"label=com.docker.compose.project={PROJECT}"]
        if service is not None:
            filters += ["--filter", f"label=com.docker.compose.service={service}"]
        flags = ["-a"] if every else []
        return sorted(podman("ps", *flags, *filters, "--format", "{{.Names}}").split())

    def state(self, container: str) -> dict[str, object]:
        answer = json.loads(podman("inspect", container, "--format", "{{json .State}}"))
        return dict(answer)

    def logs(self, container: str, tail: int = 200) -> str:
        done = subprocess.run(
            ["podman", "logs", "--tail", str(tail), container],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return done.stdout + done.stderr

    def all_logs(self, tail: int = 60) -> str:
        return "\n".join(
            f"--- {name}\n{self.logs(name, tail)}" for name in self.containers(every=True)
        )

    def exec(self, container: str, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", "exec", container, *argv],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def healthy(self, container: str) -> subprocess.CompletedProcess[str]:
        """The container's own HEALTHCHECK, run once (podman runs none by itself without
        systemd)."""
        return subprocess.run(
            ["podman", "healthcheck", "run", container],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def down(self) -> None:
        """Everything of the project gone: its containers, the workers worker-manager made, the
        volumes (the data, the workers' workspaces and homes) and the network. Images stay."""
        try:
            self.compose("down", "-v", "-t", "10", timeout=600)
        finally:
            remove_leftovers()

    @property
    def network(self) -> str:
        return f"{PROJECT}-net"


def leftovers() -> dict[str, list[str]]:
    """Containers, volumes and networks of the test's project or its workers."""
    worker = f"label=codegen.image-prefix={WORKER_IMAGE_PREFIX}"
    project = f"label=com.docker.compose.project={PROJECT}"
    containers = set()
    for selector in (worker, project):
        names = podman("ps", "-a", "--filter", selector, "--format", "{{.Names}}")
        containers |= set(names.split())
    volumes = {
        name
        for name in podman("volume", "ls", "--format", "{{.Name}}").split()
        if name.startswith((PROJECT, f"{PROJECT}_"))
    }
    volumes |= set(podman("volume", "ls", "--filter", worker, "--format", "{{.Name}}").split())
    networks = {
        name for name in podman("network", "ls", "--format", "{{.Name}}").split()
        if name.startswith(PROJECT)
    }  # fmt: skip
    return {
        "containers": sorted(containers),
        "volumes": sorted(volumes),
        "networks": sorted(networks),
    }


def remove_leftovers() -> None:
    left = leftovers()
    if left["containers"]:
        podman("rm", "-f", "-t", "5", *left["containers"], check=False)
    if left["volumes"]:
        podman("volume", "rm", "-f", *left["volumes"], check=False)
    for network in left["networks"]:
        podman("network", "rm", "-f", network, check=False)
    podman("pod", "rm", "-f", f"pod_{PROJECT}", check=False)


@contextlib.contextmanager
def podman_socket() -> Iterator[str]:
    """podman's Docker-compatible API on a socket of its own, for a run outside pytest (the
    tests use the kernel plugin's `docker_host`)."""
    directory = Path(tempfile.mkdtemp(prefix="cg-podman-"))
    socket_path = directory / "podman.sock"
    url = f"unix://{socket_path}"
    service = subprocess.Popen(
        ["podman", "system", "service", "--time=0", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not socket_path.exists():
            if service.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("podman's API service did not start (`make containers`)")
            time.sleep(0.05)
        yield url
    finally:
        service.terminate()
        service.wait(30)
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def _context_with_certs(context: Path) -> Iterator[Path]:
    """A copy of a build context with `certs/` holding the host's extra CA certificates."""
    directory = Path(tempfile.mkdtemp(prefix="cg-target-"))
    try:
        shutil.copytree(context, directory, dirs_exist_ok=True)
        (directory / "certs").mkdir()
        if (ca := extra_ca_dir()) is not None:
            for cert in ca.glob("*.crt"):
                shutil.copy(cert, directory / "certs")
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _readable_dir(path: Path) -> Path:
    path.mkdir(exist_ok=True)
    path.chmod(0o755)
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _quoted(value: str) -> str:
    if "\n" in value or " " in value or '"' in value:
        return json.dumps(value)
    return value


def _compose_env() -> dict[str, str]:
    """Only what podman-compose needs to run: compose takes a variable of its own environment
    over `.env`'s, so nothing of the user's may reach it."""
    keep = ("HOME", "LANG", "TMPDIR", "XDG_RUNTIME_DIR", "CONTAINERS_CONF")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    return env | {"PATH": _clean_env()["PATH"], "COMPOSE_PROJECT_NAME": PROJECT}


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVICE_VARIABLES}
    env["PATH"] = f"{REPO / '.venv' / 'bin'}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    env.setdefault("UV", shutil.which("uv") or str(REPO / ".tools" / "uv" / "bin" / "uv"))
    return env
