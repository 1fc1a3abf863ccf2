"""Production mode's cost: the images' sizes and the cold start of the whole compose project,
side by side with the embedded stack's cold start on the same machine.

Both sides start the same services from nothing and end when they answer: the compose side is
`podman-compose up -d` of compose.yaml (Postgres and Redis servers, the one-shot migration, two
replicas of each stateless consumer, the deploy target of the test) until the API answers
/health and every service container's own HEALTHCHECK passes; the embedded side is `codegen up`
on a new data directory until its state file says the API answers (its services are supervised
children). Each round brings a side up and takes it down (`down -v`: the next start is cold
again, new volumes, a new database); rounds alternate which side goes first. The images are
built once before the rounds (the layers the engine has are reused; the time is printed, not
compared).

images_mb: the seven service images' sizes as the engine reports them, summed (layers they
share, the Debian base and Python, counted in each); unique_mb counts each layer once.

Usage: python -P bench/compose.py [--rounds R]   (needs podman: `make containers`)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "production"))
sys.path.insert(0, str(ROOT / "packages" / "stack" / "tests"))
from compose_testing import (  # noqa: E402
    IMAGE_PREFIX,
    IMAGE_TAG,
    build_images,
    build_target_image,
    podman,
    podman_socket,
    prepare_project,
    remove_leftovers,
)
from stack_testing import codegen_up  # noqa: E402

SERVICES = (
    "api", "langgraph", "scaffolder", "worker-manager", "infra-service", "telegram-bot",
    "scheduler",
)  # fmt: skip
UP_WITHIN_S = 900


async def compose_cold_start(docker_host: str) -> float:
    with tempfile.TemporaryDirectory(prefix="cg-bench-compose-") as directory:
        project = prepare_project(Path(directory), docker_host, telegram_id=4242)
        started = time.monotonic()
        try:
            project.up()
            deadline = started + UP_WITHIN_S
            async with httpx.AsyncClient(base_url=project.api_url, timeout=5) as api:
                while not await _answers(api):
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"the API did not answer:\n{project.all_logs()}")
                    await asyncio.sleep(0.2)
            # The target has no health check; the one-shot migration is done, or soon done.
            waiting = {
                name
                for name in project.containers()
                if "_target_" not in name and "_migrate_" not in name
            }
            while waiting:
                waiting = {name for name in waiting if project.healthy(name).returncode != 0}
                if time.monotonic() > deadline:
                    raise RuntimeError(f"not healthy: {sorted(waiting)}\n{project.all_logs()}")
                if waiting:
                    await asyncio.sleep(0.5)
            return time.monotonic() - started
        finally:
            project.down()


async def embedded_cold_start() -> float:
    with tempfile.TemporaryDirectory(prefix="cg-bench-up-") as directory:
        started = time.monotonic()
        async with codegen_up(Path(directory) / "data"):
            return time.monotonic() - started


async def _answers(api: httpx.AsyncClient) -> bool:
    try:
        return (await api.get("/health")).status_code == 200
    except httpx.HTTPError:
        return False


def image_sizes() -> tuple[dict[str, float], float]:
    """Each service image's size (MB) and the size of their distinct layers together."""
    sizes, layers = {}, {}
    for service in SERVICES:
        image = f"{IMAGE_PREFIX}-{service}:{IMAGE_TAG}"
        sizes[service] = int(podman("image", "inspect", image, "--format", "{{.Size}}")) / 1e6
        history = json.loads(podman("history", "--format", "json", image))
        for layer in history:
            layers[layer["id"] + layer.get("CreatedBy", "")] = int(layer.get("size", 0))
    return sizes, sum(layers.values()) / 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    started = time.monotonic()
    build_images()
    build_target_image()
    print(f"images built (or found) in {time.monotonic() - started:.0f} s", flush=True)
    sizes, unique_mb = image_sizes()
    for service, size in sizes.items():
        print(f"  {IMAGE_PREFIX}-{service}:{IMAGE_TAG}  {size:.0f} MB")
    remove_leftovers()
    compose: list[float] = []
    embedded: list[float] = []
    with podman_socket() as docker_host:
        for number in range(args.rounds):
            order = ("compose", "embedded") if number % 2 == 0 else ("embedded", "compose")
            for side in order:
                if side == "compose":
                    took = await compose_cold_start(docker_host)
                    compose.append(took)
                else:
                    took = await embedded_cold_start()
                    embedded.append(took)
                print(f"round {number + 1} {side}: {took:.1f} s", flush=True)
    up_s, embedded_s = statistics.median(compose), statistics.median(embedded)
    print(
        f"RESULT compose up_s={up_s:.1f} embedded_up_s={embedded_s:.1f} "
        f"ratio={up_s / embedded_s:.2f} images_mb={sum(sizes.values()):.0f} "
        f"unique_mb={unique_mb:.0f} largest_mb={max(sizes.values()):.0f}"
    )


if __name__ == "__main__":
    asyncio.run(main())
