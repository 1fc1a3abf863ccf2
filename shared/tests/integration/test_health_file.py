"""A service with HEALTH_FILE keeps the file fresh while it is whole, for `codegen-health`, the
containers' HEALTHCHECK: as a real process, and in the runtime against a real Redis."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from redis.asyncio import Redis
from shared.contracts import EngineeringMessage
from shared.runtime import Ending, Lifetime, Service, StopReason, serve
from shared.streams import ConsumerOptions, Group, RedisStreamPublisher, StreamConsumer
from shared.testing.waiting import eventually, until
from structlog.testing import capture_logs

CODEGEN_HEALTH = str(Path(sys.executable).with_name("codegen-health"))
OWN_SETTINGS = ("LOG_LEVEL", "LOG_FORMAT", "HEALTH_FILE", "HEALTH_INTERVAL_S", "READY_FILE")

SERVICE = """
    from shared.runtime import Lifetime, Service, main
    from shared.settings import ServiceSettings


    def build(settings: ServiceSettings, lifetime: Lifetime) -> Service:
        async def wait(lifetime: Lifetime) -> None:
            await lifetime.stopping.wait()

        return Service("probe", tasks={"wait": wait})


    main(ServiceSettings, build, name="probe")
"""


def environment(**settings: str) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if k not in OWN_SETTINGS}
    return {**inherited, "LOG_FORMAT": "json", **settings}


def codegen_health(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CODEGEN_HEALTH], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def healthy(env: dict[str, str]) -> bool:
    return codegen_health(env).returncode == 0


def test_a_running_service_is_healthy_and_after_sigterm_its_file_is_gone(tmp_path: Path) -> None:
    script = tmp_path / "service.py"
    script.write_text(textwrap.dedent(SERVICE))
    health_file = tmp_path / "run" / "health"
    health_file.parent.mkdir()
    env = environment(HEALTH_FILE=str(health_file), HEALTH_INTERVAL_S="0.1")
    with (tmp_path / "stderr").open("wb") as errors:
        process = subprocess.Popen([sys.executable, str(script)], env=env, stderr=errors)
        try:
            until(lambda: healthy(env), 60)
            first = json.loads(health_file.read_text())
            until(lambda: json.loads(health_file.read_text())["time"] != first["time"], 60)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    assert (first["service"], first["pid"]) == ("probe", process.pid)
    assert process.returncode == 0
    assert os.listdir(health_file.parent) == []
    after = codegen_health(env)
    assert after.returncode == 1
    assert json.loads(after.stdout) == {
        "healthy": False,
        "reason": f"no health file at {health_file}",
    }


STREAM = "engineering:queue"


async def test_once_a_consumer_has_ended_the_file_is_gone_while_the_rest_still_finishes(
    redis_client: Redis, tmp_path: Path
) -> None:
    health_file = tmp_path / "health"
    release = asyncio.Event()

    async def ends_its_own_consumer(message: EngineeringMessage) -> None:
        one.stop()  # it ends unasked, as a consumer whose loop broke would

    async def finishing(lifetime: Lifetime) -> None:
        await lifetime.stopping.wait()
        await release.wait()

    one = StreamConsumer(
        redis_client,
        stream=STREAM,
        group=Group.LANGGRAPH,
        consumer="c1",
        handler=ends_its_own_consumer,
        options=ConsumerOptions(block_ms=50, batch_size=1),
    )
    service = Service(
        "test",
        consumers=[one],
        tasks={"finishing": finishing},
        grace_s=60,
        health_file=health_file,
        health_interval_s=0.05,
    )
    running = asyncio.create_task(serve(service, Lifetime()))

    async def written() -> bool:
        return health_file.exists()

    async def gone() -> bool:
        return not health_file.exists()

    await eventually(written)
    await RedisStreamPublisher(redis_client).publish(
        STREAM, EngineeringMessage(task_id="t-1", project_id="p", user_id="u")
    )
    await eventually(gone)
    still_finishing = not running.done()
    release.set()
    ending = await asyncio.wait_for(running, 60)

    assert still_finishing
    assert (ending.reason, ending.exit_code, list(ending.failed)) == (
        StopReason.TASK_ENDED,
        1,
        [f"{STREAM} c1"],
    )
    assert not health_file.exists()


async def test_a_health_file_that_cannot_be_written_does_not_stop_the_service(
    tmp_path: Path,
) -> None:
    (tmp_path / "a-file").write_text("")

    async def idle(lifetime: Lifetime) -> None:
        await lifetime.stopping.wait()

    lifetime = Lifetime()
    service = Service(
        "test",
        tasks={"idle": idle},
        health_file=tmp_path / "a-file" / "health",
        health_interval_s=0.05,
    )
    with capture_logs() as logs:
        running = asyncio.create_task(serve(service, lifetime))

        async def warned() -> bool:
            return any(entry["event"] == "cannot write the health file" for entry in logs)

        await eventually(warned)
        still_running = not running.done()
        lifetime.stop()
        ending = await asyncio.wait_for(running, 60)

    assert still_running
    assert ending == Ending(StopReason.ASKED, 0, {}, [])
