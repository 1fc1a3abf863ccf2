"""Small fakes of telegram-bot's ports, for the handlers' unit tests (on pytest's pythonpath as
`bot_fakes`)."""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.contracts import (
    CreateWorkerCommand,
    DeleteWorkerCommand,
    IncidentRead,
    IncidentSeverity,
    IncidentStatus,
    POWorkerInput,
    POWorkerOutput,
    ProjectRead,
    ProjectStatus,
    ServerRead,
    ServerSpecs,
    ServerStatus,
    TaskRead,
    TaskStatus,
    TaskType,
    UserRead,
    WorkerResponse,
    WorkerState,
)
from telegram_bot.domain.conversation import Incoming, Session
from telegram_bot.ports import ChatRefused, FollowedTask, Unavailable

NOW = datetime(2025, 1, 1, tzinfo=UTC)


def an_id() -> str:
    return uuid.uuid4().hex


def user(telegram_id: int | None = 1001, *, is_admin: bool = False, name: str = "") -> UserRead:
    return UserRead(
        id=an_id(),
        telegram_id=telegram_id,
        username=name or f"user-{an_id()[:6]}",
        is_admin=is_admin,
        created_at=NOW,
    )


def project(owner: UserRead, name: str, **fields: Any) -> ProjectRead:
    values: dict[str, Any] = {
        "id": an_id(),
        "name": name,
        "description": "",
        "status": ProjectStatus.DRAFT,
        "modules": ["backend"],
        "repository_url": None,
        "commit_sha": None,
        "owner_id": owner.id,
        "created_at": NOW,
        "updated_at": NOW,
    }
    return ProjectRead(**(values | fields))


def task(of: ProjectRead, **fields: Any) -> TaskRead:
    values: dict[str, Any] = {
        "id": an_id(),
        "project_id": of.id,
        "owner_id": of.owner_id,
        "type": TaskType.ENGINEERING,
        "status": TaskStatus.QUEUED,
        "spec": "",
        "result": None,
        "error": None,
        "created_at": NOW,
        "updated_at": NOW,
        "started_at": None,
        "finished_at": None,
    }
    return TaskRead(**(values | fields))


def server(name: str, **fields: Any) -> ServerRead:
    values: dict[str, Any] = {
        "id": an_id(),
        "name": name,
        "address": "10.0.0.1",
        "ssh_user": "root",
        "ssh_port": 22,
        "ssh_key_ref": None,
        "is_local": False,
        "provider_id": None,
        "specs": ServerSpecs(),
        "status": ServerStatus.ACTIVE,
        "last_health_check_at": None,
        "created_at": NOW,
    }
    return ServerRead(**(values | fields))


def incident(title: str, **fields: Any) -> IncidentRead:
    values: dict[str, Any] = {
        "id": an_id(),
        "server_id": None,
        "severity": IncidentSeverity.HIGH,
        "status": IncidentStatus.OPEN,
        "title": title,
        "details": "",
        "created_at": NOW,
        "resolved_at": None,
    }
    return IncidentRead(**(values | fields))


class Down:
    """A switch: while on, the fakes that share it raise Unavailable."""

    def __init__(self) -> None:
        self.on = False

    def check(self) -> None:
        if self.on:
            raise Unavailable("the fake service is down")


@dataclass
class SentText:
    chat: str
    text: str
    message_id: str
    edits: list[str] = field(default_factory=list)

    @property
    def current(self) -> str:
        return self.edits[-1] if self.edits else self.text


class FakeChat:
    """Keeps every message sent, with its edits; `refusing` chats refuse."""

    def __init__(self, down: Down | None = None) -> None:
        self.messages: list[SentText] = []
        self.refusing: set[str] = set()
        self.down = down or Down()
        self.changed = asyncio.Event()

    async def send(self, chat: str, text: str) -> str:
        self.down.check()
        if chat in self.refusing:
            raise ChatRefused("blocked")
        message = SentText(chat, text, str(len(self.messages) + 1))
        self.messages.append(message)
        return message.message_id

    async def edit(self, chat: str, message_id: str, text: str) -> None:
        self.down.check()
        if chat in self.refusing:
            raise ChatRefused("blocked")
        self.by_id(message_id).edits.append(text)
        self.changed.set()

    async def edited(self, message_id: str, count: int) -> None:
        """Return once the message was edited `count` times."""
        while len(self.by_id(message_id).edits) < count:
            self.changed.clear()
            await self.changed.wait()

    def to(self, chat: str) -> list[str]:
        """The texts sent to a chat, in order (as they read now)."""
        return [message.current for message in self.messages if message.chat == chat]

    def by_id(self, message_id: str) -> SentText:
        return next(message for message in self.messages if message.message_id == message_id)


class FakeBoard:
    """Shows at once; `settle` too."""

    def __init__(self, chat: FakeChat) -> None:
        self.chat = chat
        self.shown: list[tuple[str, str]] = []

    def show(self, chat: str, message_id: str, text: str) -> None:
        self.shown.append((message_id, text))
        self.chat.by_id(message_id).edits.append(text)

    async def settle(self, chat: str, message_id: str, text: str) -> None:
        await self.chat.edit(chat, message_id, text)


class FakeUsers:
    def __init__(self, *users: UserRead, down: Down | None = None) -> None:
        self.users = {u.id: u for u in users}
        self.down = down or Down()

    async def by_telegram_id(self, telegram_id: int) -> UserRead | None:
        self.down.check()
        return next((u for u in self.users.values() if u.telegram_id == telegram_id), None)

    async def get(self, user_id: str) -> UserRead | None:
        self.down.check()
        return self.users.get(user_id)

    async def admins(self) -> list[UserRead]:
        self.down.check()
        return [u for u in self.users.values() if u.is_admin]


class FakeCatalog:
    def __init__(self, down: Down | None = None) -> None:
        self.project_list: list[ProjectRead] = []
        self.task_list: list[TaskRead] = []
        self.server_list: list[ServerRead] = []
        self.incident_list: list[IncidentRead] = []
        self.down = down or Down()

    async def projects(self, owner_id: str) -> list[ProjectRead]:
        self.down.check()
        return [p for p in self.project_list if p.owner_id == owner_id]

    async def project(self, project_id: str) -> ProjectRead | None:
        self.down.check()
        return next((p for p in self.project_list if p.id == project_id), None)

    async def tasks(self, owner_id: str) -> list[TaskRead]:
        self.down.check()
        return [t for t in self.task_list if t.owner_id == owner_id]

    async def servers(self) -> list[ServerRead]:
        self.down.check()
        return list(self.server_list)

    async def open_incidents(self) -> list[IncidentRead]:
        self.down.check()
        return [i for i in self.incident_list if i.status is IncidentStatus.OPEN]


class FakeRefusals:
    def __init__(self) -> None:
        self.refused: set[int] = set()

    async def first_refusal(self, telegram_id: int) -> bool:
        if telegram_id in self.refused:
            return False
        self.refused.add(telegram_id)
        return True


class FakeSessions:
    def __init__(self, down: Down | None = None) -> None:
        self.sessions: dict[str, Session] = {}
        self.down = down or Down()

    async def get(self, user_id: str) -> Session | None:
        self.down.check()
        return self.sessions.get(user_id)

    async def save(self, user_id: str, session: Session) -> None:
        self.down.check()
        self.sessions[user_id] = session

    async def drop(self, user_id: str) -> None:
        self.down.check()
        self.sessions.pop(user_id, None)

    async def live(self) -> list[tuple[str, Session]]:
        self.down.check()
        return list(self.sessions.items())


class FakeTurns:
    def __init__(self, down: Down | None = None) -> None:
        self.answered_ids: set[str] = set()
        self.down = down or Down()

    async def answered(self, request_id: str) -> bool:
        self.down.check()
        return request_id in self.answered_ids

    async def mark_answered(self, request_id: str) -> None:
        self.down.check()
        self.answered_ids.add(request_id)


class FakeQueues:
    """Each lane's queue in a dict; `added` is every request id ever queued."""

    def __init__(self, down: Down | None = None) -> None:
        self.queues: dict[str, list[Incoming]] = {}
        self.added: set[str] = set()
        self.down = down or Down()

    async def add(self, lane: str, incoming: Incoming) -> bool:
        self.down.check()
        if incoming.request_id in self.added:
            return False
        self.added.add(incoming.request_id)
        self.queues.setdefault(lane, []).append(incoming)
        return True

    async def first(self, lane: str) -> Incoming | None:
        self.down.check()
        queue = self.queues.get(lane)
        return queue[0] if queue else None

    async def done(self, lane: str, incoming: Incoming) -> None:
        self.down.check()
        queue = self.queues.get(lane, [])
        if queue and queue[0].request_id == incoming.request_id:
            queue.pop(0)
        if not queue:
            self.queues.pop(lane, None)

    async def lanes(self) -> list[str]:
        self.down.check()
        return sorted(self.queues)


Behaviour = list[POWorkerOutput | str]
"""What a fake worker does with a message: outputs to give, or `die` / `die-silently` / `hang`."""


class FakeReplies:
    """Outputs as the fake worker queued them; with none, the clock moves by the wait."""

    def __init__(self, queue: deque[POWorkerOutput | None], clock: FakeClock) -> None:
        self.queue = queue
        self.clock = clock
        self.handled: list[POWorkerOutput] = []

    async def next(self, within_s: float) -> POWorkerOutput | None:
        if not self.queue:
            await self.clock.asleep(within_s)
            return None
        output = self.queue.popleft()
        if output is not None:
            self.handled.append(output)
        return output


class FakeWorkers:
    """worker-manager and the PO workers. A new worker answers each message with `script`'s
    behaviour for its number (by default one final `echo: <prompt>`); states are kept per
    worker. `create_answers` replaces the next creates' answers."""

    def __init__(self, clock: FakeClock, down: Down | None = None) -> None:
        self.clock = clock
        self.states: dict[str, WorkerState] = {}
        self.created: list[CreateWorkerCommand] = []
        self.deleted: list[str] = []
        self.inputs: dict[str, list[POWorkerInput]] = {}
        self.outputs: dict[str, deque[POWorkerOutput | None]] = {}
        self.script: list[Behaviour] = []
        self.create_answers: list[WorkerResponse] = []
        self.down = down or Down()
        self.session_of: dict[str, str] = {}

    async def state(self, worker_id: str) -> WorkerState | None:
        self.down.check()
        return self.states.get(worker_id)

    async def create(self, command: CreateWorkerCommand, within_s: float) -> WorkerResponse:
        self.down.check()
        self.created.append(command)
        if self.create_answers:
            return self.create_answers.pop(0)
        worker_id = f"po-{len(self.created)}"
        self.states[worker_id] = WorkerState.RUNNING
        self.session_of[worker_id] = command.context.get("session_id") or f"session-{worker_id}"
        return WorkerResponse(
            request_id=command.request_id, command="create", success=True, worker_id=worker_id
        )

    async def delete(self, command: DeleteWorkerCommand) -> None:
        self.down.check()
        self.deleted.append(command.worker_id)
        self.states[command.worker_id] = WorkerState.STOPPED

    async def send(self, worker_id: str, message: POWorkerInput) -> bool:
        self.down.check()
        sent = self.inputs.setdefault(worker_id, [])
        if any(m.request_id == message.request_id for m in sent):
            return False
        sent.append(message)
        number = sum(len(inputs) for inputs in self.inputs.values())
        behaviour = self.script[number - 1] if number <= len(self.script) else []
        queue = self.outputs.setdefault(worker_id, deque())
        if not behaviour:
            behaviour = [self.answer(message, f"echo: {message.prompt}", worker_id)]
        for step in behaviour:
            if step == "die":
                self.states[worker_id] = WorkerState.FAILED
                queue.append(self.answer(message, "Please send it again", worker_id, died=True))
            elif step == "die-silently":
                self.states[worker_id] = WorkerState.FAILED
            elif step == "hang":
                pass
            elif isinstance(step, POWorkerOutput):
                queue.append(
                    step.model_copy(update={"request_id": message.request_id})
                    if step.request_id == "ours"
                    else step
                )
        return True

    async def unread(self, worker_id: str) -> int:
        self.down.check()
        return len([o for o in self.outputs.get(worker_id, ()) if o is not None])

    def answer(
        self,
        message: POWorkerInput,
        text: str,
        worker_id: str,
        *,
        final: bool = True,
        died: bool = False,
    ) -> POWorkerOutput:
        return POWorkerOutput(
            request_id=message.request_id,
            user_id=message.user_id,
            text=text,
            is_final=final,
            session_id=None if died else self.session_of.get(worker_id),
            worker_died=died,
        )

    @asynccontextmanager
    async def replies(self, worker_id: str) -> AsyncIterator[FakeReplies]:
        self.down.check()
        yield FakeReplies(self.outputs.setdefault(worker_id, deque()), self.clock)

    def prompts(self) -> list[str]:
        return [m.prompt for inputs in self.inputs.values() for m in inputs]


def output(text: str, *, final: bool = True, session_id: str | None = None) -> POWorkerOutput:
    """An output the fake worker gives for the message it is sent (`request_id` filled in)."""
    return POWorkerOutput(
        request_id="ours", user_id="u", text=text, is_final=final, session_id=session_id
    )


class FakeBook:
    def __init__(self) -> None:
        self.tasks: dict[str, FollowedTask] = {}
        self.known: set[str] = set()
        self.ended: list[FollowedTask] = []

    async def knows(self, task_id: str) -> bool:
        return task_id in self.known

    async def follow(self, task: FollowedTask) -> None:
        self.known.add(task.task_id)
        self.tasks[task.task_id] = task

    async def followed(self) -> list[FollowedTask]:
        return list(self.tasks.values())

    async def advance(self, task: FollowedTask) -> None:
        self.tasks[task.task_id] = task

    async def end(self, task: FollowedTask) -> None:
        self.tasks.pop(task.task_id, None)
        self.ended.append(task)


class FakeTold:
    def __init__(self) -> None:
        self.told: set[tuple[str, str]] = set()

    async def already(self, kind: str, key: str) -> bool:
        return (kind, key) in self.told

    async def remember(self, kind: str, key: str) -> None:
        self.told.add((kind, key))


class FakeClock:
    """A clock that moves only when told; `asleep` advances it instead of waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    async def asleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)
