"""The service runtime: consumers and tasks side by side, stopped for a reason, resources closed
in order, an exit code that says how it went — against a real Redis, and as a real process."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import cast

import pytest
from redis.asyncio import Redis
from shared.contracts import EngineeringMessage
from shared.runtime import (
    EXIT_BAD_SETTINGS,
    Ending,
    Lifetime,
    Service,
    StopReason,
    close_all,
    serve,
)
from shared.streams import ConsumerOptions, Group, RedisStreamPublisher, StreamConsumer
from shared.testing.waiting import until

STREAM = "engineering:queue"


def intent(task_id: str) -> EngineeringMessage:
    return EngineeringMessage(task_id=task_id, project_id="p", user_id="u")


def consumer(redis: Redis, name: str, handler: object) -> StreamConsumer:
    return StreamConsumer(
        redis,
        stream=STREAM,
        group=Group.LANGGRAPH,
        consumer=name,
        handler=handler,  # type: ignore[arg-type]
        options=ConsumerOptions(block_ms=50, batch_size=1),
    )


class Closed:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    async def aclose(self) -> None:
        self.log.append(self.name)


async def pending(redis: Redis) -> int:
    summary = cast(dict[str, int], await redis.xpending(STREAM, Group.LANGGRAPH))
    return int(summary["pending"])


async def test_asked_to_stop_the_entry_in_flight_is_finished_and_acknowledged(
    redis_client: Redis,
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def handle(message: EngineeringMessage) -> None:
        started.set()
        await release.wait()
        handled.append(message.task_id)

    await RedisStreamPublisher(redis_client).publish(STREAM, intent("t-1"))
    lifetime = Lifetime()
    service = Service("test", consumers=[consumer(redis_client, "c1", handle)], grace_s=30)
    running = asyncio.create_task(serve(service, lifetime))
    await asyncio.wait_for(started.wait(), 10)

    lifetime.stop()
    release.set()
    ending = await asyncio.wait_for(running, 30)

    assert ending == Ending(StopReason.ASKED, 0, {}, [])
    assert handled == ["t-1"]
    assert await pending(redis_client) == 0


async def test_a_task_that_ends_on_its_own_stops_the_service_with_exit_code_1(
    redis_client: Redis,
) -> None:
    stopped_by_lifetime = asyncio.Event()

    async def watcher(lifetime: Lifetime) -> None:
        await lifetime.stopping.wait()
        stopped_by_lifetime.set()

    async def broken(lifetime: Lifetime) -> None:
        raise RuntimeError("lost its way")

    service = Service(
        "test",
        consumers=[consumer(redis_client, "c1", lambda m: asyncio.sleep(0))],
        tasks={"watcher": watcher, "broken": broken},
    )
    ending = await asyncio.wait_for(serve(service, Lifetime()), 30)

    assert ending.reason is StopReason.TASK_ENDED
    assert ending.exit_code == 1
    assert list(ending.failed) == ["broken"]
    assert "lost its way" in ending.failed["broken"]
    assert stopped_by_lifetime.is_set()


async def test_a_task_that_returns_before_the_service_stops_counts_as_ended(
    redis_client: Redis,
) -> None:
    async def quits(lifetime: Lifetime) -> None:
        return None

    ending = await asyncio.wait_for(serve(Service("test", tasks={"quits": quits}), Lifetime()), 30)

    assert (ending.reason, ending.exit_code, dict(ending.failed)) == (
        StopReason.TASK_ENDED,
        1,
        {"quits": "returned"},
    )


async def test_a_service_whose_work_is_done_exits_with_the_code_it_finished_with(
    redis_client: Redis,
) -> None:
    lifetime = Lifetime()

    async def handle(message: EngineeringMessage) -> None:
        lifetime.finish(3)

    await RedisStreamPublisher(redis_client).publish(STREAM, intent("t-1"))
    service = Service(
        "test", consumers=[consumer(redis_client, "c1", handle)], exit_code_when_asked=143
    )
    ending = await asyncio.wait_for(serve(service, lifetime), 30)

    assert ending == Ending(StopReason.FINISHED, 3, {}, [])
    assert await pending(redis_client) == 0


async def test_asked_to_stop_a_service_exits_with_its_stated_code() -> None:
    async def idle(lifetime: Lifetime) -> None:
        await lifetime.stopping.wait()

    lifetime = Lifetime()
    lifetime.stop()
    ending = await serve(Service("w", tasks={"idle": idle}, exit_code_when_asked=143), lifetime)

    assert (ending.reason, ending.exit_code) == (StopReason.ASKED, 143)


async def test_a_task_ignoring_the_stop_is_cancelled_after_the_grace_period_and_named() -> None:
    cancelled = asyncio.Event()

    async def stubborn(lifetime: Lifetime) -> None:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()

    async def polite(lifetime: Lifetime) -> None:
        await lifetime.stopping.wait()

    lifetime = Lifetime()
    service = Service("test", tasks={"stubborn": stubborn, "polite": polite}, grace_s=0.2)
    running = asyncio.create_task(serve(service, lifetime))
    lifetime.stop()
    ending = await asyncio.wait_for(running, 30)

    assert cancelled.is_set()
    assert list(ending.forced) == ["stubborn"]
    assert ending.exit_code == 1


async def test_tasks_with_nothing_to_finish_are_cancelled_at_once() -> None:
    async def follower(lifetime: Lifetime) -> None:
        await asyncio.Event().wait()

    lifetime = Lifetime()
    lifetime.stop()
    service = Service(
        "test", tasks={"follower": follower}, cancel_at_once={"follower"}, grace_s=3600
    )
    ending = await asyncio.wait_for(serve(service, lifetime), 30)

    assert ending == Ending(StopReason.ASKED, 0, {}, [])


async def test_resources_are_closed_last_opened_first_even_when_one_fails() -> None:
    closed: list[str] = []

    class Broken:
        async def aclose(self) -> None:
            closed.append("broken")
            raise OSError("already gone")

    await close_all([Closed("redis", closed), Broken(), Closed("http", closed)])

    assert closed == ["http", "broken", "redis"]


def _service_script(tmp_path: Path, body: str) -> Path:
    script = tmp_path / "service.py"
    script.write_text(textwrap.dedent(body))
    return script


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LOG_LEVEL", "LOG_FORMAT")}
    return {**env, "LOG_FORMAT": "json", "READY_FILE": str(tmp_path / "ready")}


SCRIPT = """
    import os
    from pathlib import Path

    from shared.runtime import Lifetime, Service, main
    from shared.settings import ServiceSettings


    class Settings(ServiceSettings):
        ready_file: Path
        answer: int = 0


    class Resource:
        async def aclose(self) -> None:
            print("closed", flush=True)


    def build(settings: Settings, lifetime: Lifetime) -> Service:
        async def wait(lifetime: Lifetime) -> None:
            settings.ready_file.write_text(str(os.getpid()))
            await lifetime.stopping.wait()

        return Service("probe", tasks={"wait": wait}, resources=[Resource()])


    main(Settings, build, name="probe")
"""


def test_sigterm_stops_a_service_process_with_exit_0_and_a_last_line_saying_why(
    tmp_path: Path,
) -> None:
    script = _service_script(tmp_path, SCRIPT)
    stderr = tmp_path / "stderr"
    with stderr.open("wb") as errors:
        process = subprocess.Popen(
            [sys.executable, str(script)],
            env=_env(tmp_path),
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        try:
            until((tmp_path / "ready").exists, 60)
            process.send_signal(signal.SIGTERM)
            out, _ = process.communicate(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    last = json.loads(stderr.read_text().strip().splitlines()[-1])
    assert process.returncode == 0
    assert out.decode().split() == ["closed"]
    assert (last["event"], last["reason"], last["exit_code"]) == (
        "service stopped",
        StopReason.ASKED.value,
        0,
    )


def test_bad_settings_exit_2_naming_every_setting_at_fault(tmp_path: Path) -> None:
    script = _service_script(tmp_path, SCRIPT)
    env = {**_env(tmp_path), "ANSWER": "forty-two"}
    del env["READY_FILE"]
    done = subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == EXIT_BAD_SETTINGS
    errors = done.stderr.decode()
    assert "invalid setting READY_FILE" in errors
    assert "invalid setting ANSWER" in errors
    assert "Traceback" not in errors


@pytest.mark.parametrize("reason", list(StopReason))
def test_the_first_reason_given_is_the_one_that_counts(reason: StopReason) -> None:
    lifetime = Lifetime()
    lifetime.stop(reason, exit_code=5)
    lifetime.stop()
    lifetime.finish(0)
    assert (lifetime.reason, lifetime.exit_code) == (reason, 5)


async def test_when_a_task_fails_a_consumer_still_finishes_the_entry_it_holds(
    redis_client: Redis,
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    handled: list[str] = []

    async def handle(message: EngineeringMessage) -> None:
        started.set()
        await release.wait()
        handled.append(message.task_id)

    async def breaks_once_the_entry_is_held(lifetime: Lifetime) -> None:
        await started.wait()
        raise RuntimeError("a sibling broke")

    await RedisStreamPublisher(redis_client).publish(STREAM, intent("t-1"))
    service = Service(
        "test",
        consumers=[consumer(redis_client, "c1", handle)],
        tasks={"sibling": breaks_once_the_entry_is_held},
        grace_s=60,
    )
    lifetime = Lifetime()
    running = asyncio.create_task(serve(service, lifetime))
    await asyncio.wait_for(lifetime.stopping.wait(), 10)  # the failure seen, the entry held
    release.set()
    ending = await asyncio.wait_for(running, 60)

    assert (ending.reason, ending.exit_code, list(ending.failed)) == (
        StopReason.TASK_ENDED,
        1,
        ["sibling"],
    )
    assert handled == ["t-1"]
    assert await pending(redis_client) == 0


SWALLOWS_CANCELLATION = """
    import asyncio
    from pathlib import Path

    from shared.runtime import Lifetime, Service, main
    from shared.settings import ServiceSettings


    class Settings(ServiceSettings):
        ready_file: Path


    def build(settings: Settings, lifetime: Lifetime) -> Service:
        async def deaf(lifetime: Lifetime) -> None:
            settings.ready_file.write_text("up")
            while True:
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    pass  # as a cancellation lost inside a library call would be

        return Service("probe", tasks={"deaf": deaf}, grace_s=0.2)


    main(Settings, build, name="probe")
"""


def test_a_task_that_survives_its_cancellation_is_left_behind_and_the_process_exits_1(
    tmp_path: Path,
) -> None:
    script = _service_script(tmp_path, SWALLOWS_CANCELLATION)
    stderr = tmp_path / "stderr"
    with stderr.open("wb") as errors:
        process = subprocess.Popen([sys.executable, str(script)], env=_env(tmp_path), stderr=errors)
        try:
            until((tmp_path / "ready").exists, 60)
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    last = json.loads(stderr.read_text().strip().splitlines()[-1])
    assert process.returncode == 1
    assert (last["event"], last["forced"], last["exit_code"]) == ("service stopped", ["deaf"], 1)


async def test_a_service_that_cannot_start_runs_nothing_and_exits_1(redis_client: Redis) -> None:
    ran: list[str] = []

    async def start() -> None:
        raise OSError("no workspace")

    async def task(lifetime: Lifetime) -> None:
        ran.append("task")

    service = Service("test", tasks={"task": task}, on_start=start)
    ending = await serve(service, Lifetime())

    assert (ending.reason, ending.exit_code, ran) == (StopReason.TASK_ENDED, 1, [])
    assert "no workspace" in ending.failed["on_start"]


async def test_finishing_inside_a_handler_stops_its_consumer_before_it_reads_again(
    redis_client: Redis,
) -> None:
    lifetime = Lifetime()
    handled: list[str] = []

    async def handle(message: EngineeringMessage) -> None:
        handled.append(message.task_id)
        lifetime.finish(0)

    publisher = RedisStreamPublisher(redis_client)
    for task_id in ("t-1", "t-2", "t-3"):
        await publisher.publish(STREAM, intent(task_id))
    one = consumer(redis_client, "c1", handle)
    ending = await asyncio.wait_for(serve(Service("test", consumers=[one]), lifetime), 30)

    assert (ending.reason, handled) == (StopReason.FINISHED, ["t-1"])
    assert one.stopping
