"""Instant stand-ins for the services the flows delegate to: scaffolder, worker-manager, the
developer and tester workers, infra-service. Each reads its real stream through its real group
and answers with its real DTO as soon as it reads, so a flow's own overhead can be measured and
its crash behaviour tested without agents, git or Ansible. What each stage answers is a plain
function of the request, replaceable per test; every request read is kept, in order."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import httpx
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from shared.contracts import (
    AnsibleDeployMessage,
    AnsibleDeployResult,
    CreateWorkerCommand,
    DeleteWorkerCommand,
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    OutcomeStatus,
    ScaffolderMessage,
    ScaffolderResult,
    StatusWorkerCommand,
    WorkerResponse,
    WorkMode,
)
from shared.streams import RedisStreamPublisher, raise_if_cancelled
from shared.streams.registry import (
    ANSIBLE_DEPLOY_QUEUE,
    DEPLOY_RESULTS,
    DEVELOPER_INPUT,
    DEVELOPER_OUTPUT,
    SCAFFOLDER_QUEUE,
    SCAFFOLDER_RESULTS,
    WORKER_COMMANDS,
    WORKER_RESPONSES_DEVELOPER,
    Group,
    StreamSpec,
)
from shared.streams.wire import decode

Reply = Callable[[Any], Awaitable[BaseModel | None] | BaseModel | None]


def commit_of(task_id: str, attempt: int) -> str:
    return hashlib.sha1(f"{task_id}:{attempt}".encode(), usedforsecurity=False).hexdigest()


def scaffolded(message: ScaffolderMessage) -> ScaffolderResult:
    return ScaffolderResult(
        request_id=message.request_id,
        correlation_id=message.correlation_id,
        status=OutcomeStatus.SUCCESS,
        project_id=message.project_id,
        repo_url=f"/srv/repositories/{message.project_name}.git",
        files_generated=12,
        task_id=message.task_id,
    )


def developed(message: DeveloperWorkerInput) -> DeveloperWorkerOutput:
    """A developer that always delivers a commit; a tester whose tests always pass."""
    commit = message.commit_sha if message.mode is WorkMode.TEST else None
    return DeveloperWorkerOutput(
        request_id=message.request_id,
        correlation_id=message.correlation_id,
        task_id=message.task_id,
        status=OutcomeStatus.SUCCESS,
        commit_sha=commit or commit_of(message.task_id, message.attempt),
        duration_ms=1,
        exit_code=0,
    )


@dataclass
class FakeStages:
    redis: Redis
    deployed_url: str = "http://127.0.0.1:9/"
    scaffolder: Reply = scaffolded
    developer: Reply = developed
    deployer: Reply | None = None
    # When set, worker-manager's stand-in answers no create before the event is set.
    hold_creates: asyncio.Event | None = None
    # With the API (a service's client), the scaffold stand-in records the repository and moves
    # the project to `scaffolded`, as the real scaffolder does.
    api: httpx.AsyncClient | None = None
    seen: dict[str, list[Any]] = field(default_factory=dict)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _workers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _developer_inputs: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._publisher = RedisStreamPublisher(self.redis)
        self._stopping = asyncio.Event()

    async def start(self) -> None:
        routes: list[tuple[StreamSpec, str, Callable[[Any], Awaitable[None]]]] = [
            (SCAFFOLDER_QUEUE, Group.SCAFFOLDER, self._scaffold),
            (WORKER_COMMANDS, Group.WORKER_MANAGER, self._command),
            (ANSIBLE_DEPLOY_QUEUE, Group.INFRA_SERVICE, self._deploy),
        ]
        for spec, group, handle in routes:
            await self._group(spec.pattern, group)
            self._tasks.append(
                asyncio.create_task(self._serve(spec, group, handle, _always([spec.pattern])))
            )
        # Each developer worker reads its own input stream, made when the worker is created.
        self._tasks.append(
            asyncio.create_task(
                self._serve(
                    DEVELOPER_INPUT, Group.DEVELOPER_WORKERS, self._develop,
                    lambda: list(self._developer_inputs),
                )
            )
        )  # fmt: skip

    async def stop(self) -> None:
        self._stopping.set()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def of(self, stream: str) -> list[Any]:
        return self.seen.get(stream, [])

    def runs(self) -> list[DeveloperWorkerInput]:
        """Every developer and tester run asked for, whichever worker it was sent to."""
        return cast(list[DeveloperWorkerInput], self.of(DEVELOPER_INPUT.pattern))

    async def _group(self, stream: str, group: str) -> None:
        with contextlib.suppress(ResponseError):
            await self.redis.xgroup_create(stream, group, id="0", mkstream=True)

    async def _serve(
        self,
        spec: StreamSpec,
        group: str,
        handle: Callable[[Any], Awaitable[None]],
        streams: Callable[[], list[str]],
    ) -> None:
        """Requests are kept under the spec's pattern, whichever of its streams they came on."""
        while not self._stopping.is_set():
            raise_if_cancelled()  # redis-py's wait_for can swallow a cancellation (3.11)
            names = streams()
            if not names:
                await asyncio.sleep(0.01)
                continue
            batches = cast(
                list[tuple[Any, list[tuple[Any, Any]]]],
                await self.redis.xreadgroup(
                    group, "fake", dict.fromkeys(names, ">"), count=100, block=100
                ),
            )
            for stream, entries in batches or []:
                for entry_id, fields in entries:
                    text = {_text(k): _text(v) for k, v in cast(dict[Any, Any], fields).items()}
                    message = decode(text, spec.adapter)
                    self.seen.setdefault(spec.pattern, []).append(message)
                    await handle(message)
                    await self.redis.xack(_text(stream), group, entry_id)

    async def _answer(self, reply: Reply, message: Any, stream: str) -> None:
        answer = reply(message)
        if asyncio.iscoroutine(answer):
            answer = await answer
        if answer is not None:
            await self._publisher.publish(stream, cast(BaseModel, answer))

    async def _scaffold(self, message: ScaffolderMessage) -> None:
        if self.api is not None and self.scaffolder is scaffolded:
            path = f"/api/projects/{message.project_id}"
            await self.api.patch(path, json={"status": "scaffolding"})
            repo = scaffolded(message).repo_url
            await self.api.patch(path, json={"status": "scaffolded", "repository_url": repo})
        await self._answer(self.scaffolder, message, SCAFFOLDER_RESULTS.pattern)

    async def _command(
        self, message: CreateWorkerCommand | DeleteWorkerCommand | StatusWorkerCommand
    ) -> None:
        if isinstance(message, CreateWorkerCommand):
            if self.hold_creates is not None:
                await self.hold_creates.wait()
            worker_id = f"developer-fake-{next(self._workers)}"
            stream = DEVELOPER_INPUT.name(worker_id=worker_id)
            await self._group(stream, Group.DEVELOPER_WORKERS)
            self._developer_inputs.append(stream)
        else:
            worker_id = message.worker_id
        await self._publisher.publish(
            WORKER_RESPONSES_DEVELOPER.pattern,
            WorkerResponse(
                request_id=message.request_id,
                correlation_id=message.correlation_id,
                command=message.command,
                success=True,
                worker_id=worker_id,
            ),
        )

    async def _develop(self, message: DeveloperWorkerInput) -> None:
        await self._answer(self.developer, message, DEVELOPER_OUTPUT.pattern)

    async def _deploy(self, message: AnsibleDeployMessage) -> None:
        reply = self.deployer or self._deployed
        await self._answer(reply, message, DEPLOY_RESULTS.pattern)

    def _deployed(self, message: AnsibleDeployMessage) -> AnsibleDeployResult:
        return AnsibleDeployResult(
            request_id=message.request_id,
            correlation_id=message.correlation_id,
            task_id=message.task_id,
            project_id=message.project_id,
            status=OutcomeStatus.SUCCESS,
            deployed_url=self.deployed_url,
            health_url=self.deployed_url,
            server_ip="127.0.0.1",
            port=message.port,
            exit_code=0,
        )


def _always(streams: list[str]) -> Callable[[], list[str]]:
    return lambda: streams


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
