"""The canary-secret scan, for workers: worker-manager's service key, Redis's password and a forge
token reach no log line, stream entry, result or command line while a PO and a developer worker
run, and the agent's environment holds its own credentials only (not its wrapper's).

A real worker-manager process (process backend) against a Redis whose default user's password is
a canary and the real API; scripted agents dump their environment and use the real
`orchestrator` CLI. Everything is scanned afterwards, and every place counted.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlsplit

import httpx
import pytest
import pytest_asyncio
import redis.exceptions
from api.testing import LiveApi
from manager_testing import (
    ManagerProcess,
    entries,
    kill_workers,
    manager_env,
    wait_for_answer,
    worker_ids,
)
from redis.asyncio import Redis
from shared.contracts import (
    AgentType,
    CreateWorkerCommand,
    DeleteWorkerCommand,
    DeveloperWorkerInput,
    POWorkerInput,
    WorkerConfig,
    WorkerType,
)
from shared.streams import RedisStreamPublisher, connect_redis
from shared.testing.git import bare_repo
from shared.testing.secrets_scan import CommandLineScanner
from shared.testing.servers import RedisServer
from shared.testing.waiting import eventually
from worker_manager.adapters.redis_status_store import RedisStatusStore

# The PO's turn: its agent dumps its environment and uses the CLI, keeping what each command
# printed (its answer) in a file; the engineering task it starts leaves a project and a task in
# the API and an entry on engineering:queue, scanned with the rest.
PROJECT_ID = 'python3 -c \'import json, sys; print(json.load(sys.stdin)["data"]["id"])\''
PO_TURN = (
    "env -0 > agent.env",
    "orchestrator respond --message hi > respond.json",
    "orchestrator diagnose redis > diagnose-redis.json",
    "orchestrator diagnose api > diagnose-api.json",
    "orchestrator project create --name canary --modules backend > project.json",
    f'orchestrator engineering start --project "$({PROJECT_ID} < project.json)"'
    ' --spec "$SCRIPTED_AGENT_PROMPT" > engineering.json',
)
CLI_ANSWERS = [step.rpartition("> ")[2] for step in PO_TURN[1:]]


def canary(what: str) -> str:
    """A fresh secret per run: two runs at once (or another suite's canary) never meet."""
    return f"canary-{what}-{uuid.uuid4().hex}"


@dataclass
class Worker:
    """What the test learnt of one worker while it lived: its log (held open, so it can be read
    after the worker's directory is gone) and the credentials in its wrapper's environment."""

    worker_id: str
    log: IO[bytes]
    wrapper_env: dict[str, str]

    @property
    def wrapper_redis_password(self) -> str:
        return urlsplit(self.wrapper_env["REDIS_URL"]).password or ""

    @property
    def agent_redis_password(self) -> str:
        return urlsplit(self.wrapper_env["AGENT_REDIS_URL"]).password or ""


@dataclass
class Stack:
    redis: Redis
    redis_server: RedisServer
    api: LiveApi
    user_id: str
    manager: ManagerProcess
    data_dir: Path
    tmp: Path
    forge_token: str
    workers: list[Worker] = field(default_factory=list)

    @property
    def canaries(self) -> dict[str, str]:
        """The secrets no worker and no output may show, by name."""
        return {
            "worker-manager's API key": self.api.service_key,
            "Redis's password": self.redis_server.password or "",
            "the forge token": self.forge_token,
        }

    def worker_secrets(self) -> dict[str, str]:
        """Each worker's own credentials: its agent holds some, but no output may show any."""
        found = {}
        for worker in self.workers:
            env = worker.wrapper_env
            found[f"{worker.worker_id}'s wrapper Redis password"] = worker.wrapper_redis_password
            found[f"{worker.worker_id}'s agent Redis password"] = worker.agent_redis_password
            found[f"{worker.worker_id}'s API key"] = env["API_KEY"]
        return found

    def script(self, name: str, *commands: str) -> str:
        path = self.tmp / f"{name}.json"
        steps = [{"run": command} for command in commands]
        verdict = {"status": "success", "summary": "done"}
        path.write_text(
            json.dumps({"turns": [{"steps": steps, "reply": "ok", "verdict": verdict}]})
        )
        return str(path)

    async def create(self, worker_type: WorkerType, script: str, allowed: str) -> Worker:
        command = CreateWorkerCommand(
            config=WorkerConfig(
                name="canary",
                worker_type=worker_type,
                agent_type=AgentType.SCRIPTED,
                allowed_commands=allowed,
                env_vars={"SCRIPTED_AGENT_SCRIPT": script},
            ),
            context={"user_id": self.user_id, "task_id": "t-1"},
        )
        await RedisStreamPublisher(self.redis).publish("worker:commands", command)
        stream = f"worker:responses:{worker_type.value}"
        answer = await wait_for_answer(self.redis, stream, command.request_id, 60)
        assert answer.success, answer
        assert answer.worker_id is not None
        record = await RedisStatusStore(self.redis).record(answer.worker_id)
        assert record is not None
        assert record.handle is not None
        # The wrapper waits for its input: alive, and its log already opened by the backend.
        log = (self.data_dir / answer.worker_id / "worker.log").open("rb")
        environ = await asyncio.to_thread(Path(f"/proc/{record.handle}/environ").read_bytes)
        worker = Worker(answer.worker_id, log, _variables(environ))
        self.workers.append(worker)
        return worker

    async def publish(self, stream: str, message: Any) -> None:
        await RedisStreamPublisher(self.redis).publish(stream, message)

    async def recorded(self) -> list[tuple[str, str]]:
        """What the API holds of the user: projects, tasks, their executions, the workers' keys."""
        headers = {"Authorization": f"Bearer {self.api.service_key}"}
        async with httpx.AsyncClient(base_url=self.api.url, headers=headers) as api:

            async def read(path: str, **params: str) -> Any:
                response = await api.get(path, params=params)
                response.raise_for_status()
                return response.json()

            places = [("the API's projects", await read("/api/projects"))]
            places += [("the API's tasks", await read("/api/tasks"))]
            places += [("the API's executions", await read("/api/task-executions"))]
            places += [("the API's keys", await read("/api/api-keys", user_id=self.user_id))]
        return [(place, json.dumps(value)) for place, value in places]

    async def gone(self, worker_id: str) -> bool:
        """worker-manager has removed the worker's directory: it does once its processes ended."""
        return not (self.data_dir / worker_id).exists()

    @property
    def po_home(self) -> Path:
        """The PO agent's working directory, in its user's home."""
        return self.data_dir / "po" / self.user_id / "po"

    async def logs(self, capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str]]:
        """Every log: worker-manager's, each worker's (not one of them empty), Redis's, and the
        in-process API's output."""
        worker_logs = [(f"{w.worker_id}'s log", _text(w.log.read())) for w in self.workers]
        assert all(text for _, text in worker_logs), worker_logs
        output = capsys.readouterr()
        redis_log = (self.redis_server.dir / "redis.log").read_bytes()
        return [
            ("worker-manager's log", self.manager.logs()),
            *worker_logs,
            ("Redis's log", _text(redis_log)),
            ("the API's and the test's output", output.out + output.err),
        ]


@pytest.fixture
def locked_redis() -> Iterator[RedisServer]:
    server = RedisServer(password=canary("redis"))
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest_asyncio.fixture
async def stack(
    live_api: LiveApi, locked_redis: RedisServer, tmp_path: Path
) -> AsyncIterator[Stack]:
    headers = {"Authorization": f"Bearer {live_api.service_key}"}
    async with httpx.AsyncClient(base_url=live_api.url, headers=headers) as api:
        user = (await api.post("/api/users", json={"username": "canary-user"})).json()
    forge_token = canary("forge")
    data_dir = tmp_path / "workers"
    env = manager_env(
        locked_redis.url,
        data_dir,
        api_url=live_api.url,
        api_key=live_api.service_key,
        worker_env_passthrough="GIT_TOKEN",
        task_timeout_s=60,
        idle_timeout_s=120,
        monitor_interval_s=0.2,
        stop_grace_s=5,
    )
    manager = ManagerProcess(env | {"GIT_TOKEN": forge_token}, tmp_path / "manager.log")
    redis = connect_redis(locked_redis.url)
    stack = Stack(
        redis, locked_redis, live_api, user["id"], manager, data_dir, tmp_path, forge_token
    )
    try:
        yield stack
    finally:
        try:
            manager.stop()
        finally:
            kill_workers(await worker_ids(redis))  # this Redis is the test's own
            for worker in stack.workers:
                worker.log.close()
            await redis.aclose()


async def test_the_redis_of_the_scan_refuses_a_client_without_its_password(
    locked_redis: RedisServer,
) -> None:
    anonymous = connect_redis(f"redis://127.0.0.1:{locked_redis.port}/0")
    try:
        with pytest.raises(redis.exceptions.AuthenticationError):
            await anonymous.ping()
    finally:
        await anonymous.aclose()
    assert locked_redis.password
    with CommandLineScanner(locked_redis.password) as scanner:  # Redis's own included
        await scanner.prove_it_sees()
    assert scanner.found == []


async def test_the_scanner_sees_a_canary_planted_in_a_command_line() -> None:
    planted = canary("planted")
    with CommandLineScanner(planted) as scanner:
        holder = await asyncio.create_subprocess_exec(
            "sh", "-c", "read _", planted, stdin=asyncio.subprocess.PIPE
        )
        try:
            found = await eventually(lambda: asyncio.to_thread(list, scanner.found), 30)
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            await asyncio.wait_for(holder.wait(), 10)
    assert any(planted in argv for argv in found)
    assert scanner.holding(planted)


async def test_the_scan_finds_a_canary_planted_in_a_stream_entry_a_key_and_a_log(
    locked_redis: RedisServer, tmp_path: Path
) -> None:
    planted = canary("planted")
    redis = connect_redis(locked_redis.url)
    try:
        await redis.xadd("some:stream", {"data": json.dumps({"note": f"token={planted}"})})
        await redis.hset("some:hash", mapping={"a": "1", "b": planted})
        places = await redis_contents(redis)
    finally:
        await redis.aclose()
    log = tmp_path / "x.log"
    log.write_text(f"line one\n{planted}\n")
    places += [("x.log", log.read_text())]

    assert sorted(leaks(places, {"planted": planted})) == [
        ("key some:hash", "planted"),
        ("stream some:stream", "planted"),
        ("x.log", "planted"),
    ]


async def test_no_canary_reaches_a_log_stream_result_command_line_or_the_agents_environment(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    with CommandLineScanner(*stack.canaries.values()) as scanner:
        # Seeing a control process before and after proves it read command lines all along.
        await scanner.prove_it_sees()
        po, developer = await a_po_turn_and_a_developer_task(stack)
        stack.manager.stop()  # its shutdown's log lines are scanned too
        await scanner.prove_it_sees()

    # The canaries were really in play: the forge token reached each wrapper.
    assert [w.wrapper_env.get("GIT_TOKEN") for w in stack.workers] == [stack.forge_token] * 2
    logs = await stack.logs(capsys)
    stored = await redis_contents(stack.redis)
    answers = [(name, (stack.po_home / name).read_text()) for name in CLI_ANSWERS]
    assert all(json.loads(text)["success"] for _, text in answers), answers
    argv = [("a command line", line) for line in scanner.found]
    argv += [("a command line", line) for line in scanner.holding(*stack.worker_secrets().values())]
    found = leaks(
        logs + stored + await stack.recorded() + answers + argv,
        stack.canaries | stack.worker_secrets(),
    )
    environments = [
        (po, agent_environment(stack.po_home / "agent.env")),
        (developer, agent_environment(stack.tmp / "developer.env")),
    ]
    for worker, env in environments:
        # The agent holds its own credentials, and nothing else of the kind.
        assert env["API_KEY"] == worker.wrapper_env["API_KEY"]
        assert urlsplit(env["REDIS_URL"]).password == worker.agent_redis_password
        not_its_own = {"its wrapper's Redis password": worker.wrapper_redis_password}
        place = f"{worker.worker_id}'s agent environment"
        found += leaks([(place, _dump(env))], stack.canaries | not_its_own)

    lines = sum(text.count("\n") for _, text in logs)
    streams = sum(1 for place, _ in stored if place.startswith("stream "))
    variables = sum(len(env) for _, env in environments)
    print(
        f"CANARY workers: logs={lines} lines, streams={streams} entries, "
        f"argv={scanner.samples} samples, env={variables} vars, leaks={len(found)}"
    )
    assert found == []


async def a_po_turn_and_a_developer_task(stack: Stack) -> tuple[Worker, Worker]:
    """A PO worker answers a message (its agent using the CLI), a developer worker pushes a
    commit; then both end, the PO deleted, and worker-manager removes what they leave."""
    po = await stack.create(WorkerType.PO, stack.script("po", *PO_TURN), "PRODUCT_OWNER")
    message = POWorkerInput(user_id=stack.user_id, prompt="hello")
    await stack.publish(f"worker:po:{po.worker_id}:input", message)
    answer = await eventually(lambda: final_output(stack.redis, po.worker_id), 60)
    assert answer["text"] == "ok"

    developer_turn = (
        f"env -0 > {stack.tmp / 'developer.env'}",
        "echo x > x.txt && git add x.txt && git commit -qm x",
    )
    script = stack.script("developer", *developer_turn)
    developer = await stack.create(WorkerType.DEVELOPER, script, "DEVELOPER")
    repo = str(bare_repo(stack.tmp))
    task = DeveloperWorkerInput(
        task_id="t-1", project_id="p-1", prompt="go", repo_url=repo, timeout=60
    )
    await stack.publish(f"worker:developer:{developer.worker_id}:input", task)
    [result] = await eventually(lambda: entries(stack.redis, "worker:developer:output"), 60)
    assert result["status"] == "success", result

    delete = DeleteWorkerCommand(worker_id=po.worker_id)
    await stack.publish("worker:commands", delete)
    deleted = await wait_for_answer(stack.redis, "worker:responses:po", delete.request_id)
    assert deleted.success, deleted
    await eventually(lambda: stack.gone(po.worker_id), 30)
    await eventually(lambda: stack.gone(developer.worker_id), 30)
    return po, developer


def leaks(places: list[tuple[str, str]], secrets: dict[str, str]) -> list[tuple[str, str]]:
    """(place, secret's name) for every secret found in a place's text."""
    return [
        (place, name)
        for place, text in places
        for name, secret in secrets.items()
        if secret and secret in text
    ]


async def redis_contents(redis: Redis) -> list[tuple[str, str]]:
    """Everything Redis holds: one place per stream entry (`stream NAME`), one per other key."""
    places = []
    async for key in redis.scan_iter(count=1000):
        kind = await redis.type(key)
        if kind == "stream":
            stream = cast(list[tuple[str, dict[str, str]]], await redis.xrange(key))
            places += [(f"stream {key}", json.dumps(fields)) for _, fields in stream]
            continue
        if kind == "hash":
            value: object = await redis.hgetall(key)
        elif kind == "string":
            value = await redis.get(key)
        elif kind == "set":
            value = sorted(await redis.smembers(key))
        elif kind == "zset":
            value = await redis.zrange(key, 0, -1)
        else:
            value = await redis.lrange(key, 0, -1)
        places.append((f"key {key}", json.dumps(value)))
    return places


async def final_output(redis: Redis, worker_id: str) -> dict[str, Any] | None:
    outputs = await entries(redis, f"worker:po:{worker_id}:output")
    return next((o for o in outputs if o["is_final"]), None)


def agent_environment(dump: Path) -> dict[str, str]:
    """The variables an agent dumped with `env -0`."""
    return _variables(dump.read_bytes())


def _variables(environ: bytes) -> dict[str, str]:
    pairs = [entry.decode(errors="replace").partition("=") for entry in environ.split(b"\0")]
    return {name: value for name, _, value in pairs if name}


def _text(raw: bytes) -> str:
    return raw.decode(errors="replace")


def _dump(env: dict[str, str]) -> str:
    return "\n".join(f"{name}={value}" for name, value in env.items())
