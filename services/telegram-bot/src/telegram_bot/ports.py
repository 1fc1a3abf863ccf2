"""What the handlers need from the outside: the chat the user writes in, the API, the user's
session, the PO workers and their streams, and the progress and alert bookkeeping.

Every port raises `Unavailable` when the service behind it (the API, Redis, the chat's
servers) cannot be reached: the user is told to try again shortly, and the next message tries
again (nothing is cached from a failure)."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from shared.contracts import (
    CreateWorkerCommand,
    DeleteWorkerCommand,
    IncidentRead,
    POWorkerInput,
    POWorkerOutput,
    ProjectRead,
    ServerRead,
    TaskRead,
    UserRead,
    WorkerResponse,
    WorkerState,
)

from telegram_bot.domain.conversation import Incoming, Session
from telegram_bot.domain.progress import ProgressEntry, TaskView


class Unavailable(Exception):
    """The API, Redis or the chat's servers could not be reached; trying later may work."""


class ChatRefused(Exception):
    """The chat will not take the message (the user blocked the bot, the chat is gone)."""


class Chat(Protocol):
    """The front end the user writes in. Texts are plain (no markup is interpreted)."""

    async def send(self, chat: str, text: str) -> str:
        """Send `text` (in as many messages as it takes); the id of the last message. Waits out
        flood limits; raises ChatRefused, Unavailable."""
        ...

    async def edit(self, chat: str, message_id: str, text: str) -> None:
        """Replace a message's text (an unchanged text is no error); raises ChatRefused,
        Unavailable."""
        ...


class StatusBoard(Protocol):
    """Status messages kept up to date without flooding the chat."""

    def show(self, chat: str, message_id: str, text: str) -> None:
        """The message should read `text`: edited at once if it was not edited lately, else
        once it may be (the latest text wins)."""
        ...

    async def settle(self, chat: str, message_id: str, text: str) -> None:
        """Edit the message to its last text as soon as allowed, and return once it reads so."""
        ...


class Users(Protocol):
    async def by_telegram_id(self, telegram_id: int) -> UserRead | None: ...

    async def get(self, user_id: str) -> UserRead | None: ...

    async def admins(self) -> list[UserRead]: ...


class Catalog(Protocol):
    """What the quick commands show, straight from the API."""

    async def projects(self, owner_id: str) -> list[ProjectRead]: ...

    async def project(self, project_id: str) -> ProjectRead | None: ...

    async def tasks(self, owner_id: str) -> list[TaskRead]: ...

    async def servers(self) -> list[ServerRead]: ...

    async def open_incidents(self) -> list[IncidentRead]: ...


class Refusals(Protocol):
    async def first_refusal(self, telegram_id: int) -> bool:
        """True the first time only: an unknown user is told once, not at every message."""
        ...


class Sessions(Protocol):
    """`po:session:{user_id}`, kept 24 h after the last message."""

    async def get(self, user_id: str) -> Session | None: ...

    async def live(self) -> list[tuple[str, Session]]:
        """Every session kept now, as (user id, session)."""
        ...

    async def save(self, user_id: str, session: Session) -> None: ...

    async def drop(self, user_id: str) -> None: ...


class Replies(Protocol):
    """A PO worker's outputs, in order. An output counts as handled (acknowledged) once the
    next one is asked for, or the replies are closed without an error."""

    async def next(self, within_s: float) -> POWorkerOutput | None:
        """The next output; None when none came within `within_s`."""
        ...


class Workers(Protocol):
    """PO workers, through worker-manager and their own streams."""

    async def state(self, worker_id: str) -> WorkerState | None:
        """The worker's state as worker-manager keeps it; None once it is forgotten."""
        ...

    async def create(self, command: CreateWorkerCommand, within_s: float) -> WorkerResponse:
        """Ask worker-manager for a worker and wait for its answer; raises Unavailable when none
        came within `within_s`."""
        ...

    async def delete(self, command: DeleteWorkerCommand) -> None:
        """Ask worker-manager to stop a worker (its answer is not waited for)."""
        ...

    async def send(self, worker_id: str, message: POWorkerInput) -> bool:
        """Give the worker the message, unless it was given it before (by its request_id, for a
        week): False then, and nothing is sent."""
        ...

    async def unread(self, worker_id: str) -> int:
        """How many of the worker's outputs the bot has not handled yet (read by nobody, or read
        and not acknowledged)."""
        ...

    def replies(self, worker_id: str) -> AbstractAsyncContextManager[Replies]:
        """The worker's outputs from now on and any left unhandled before: open it before
        sending, so nothing is missed."""
        ...


class Turns(Protocol):
    """Which messages got their answer, by request id (kept a week): a message handled again
    after a restart is not answered twice."""

    async def answered(self, request_id: str) -> bool: ...

    async def mark_answered(self, request_id: str) -> None: ...


class Queues(Protocol):
    """Each lane's messages waiting their turn, kept in order until handled: nothing a person
    sent is lost when the bot stops, however it stops."""

    async def add(self, lane: str, incoming: Incoming) -> bool:
        """Queue the message at the lane's end, unless it was queued before (by its request id):
        False then."""
        ...

    async def first(self, lane: str) -> Incoming | None:
        """The lane's first message (still queued), or None when the lane is empty."""
        ...

    async def done(self, lane: str, incoming: Incoming) -> None:
        """The lane's first message was handled: it leaves the queue."""
        ...

    async def lanes(self) -> list[str]:
        """The lanes with messages waiting."""
        ...


@dataclass(frozen=True)
class FollowedTask:
    """A task whose progress is shown to its user."""

    view: TaskView
    chat: str
    message_id: str
    after: str = "0-0"
    """The last entry of its progress stream shown."""

    @property
    def task_id(self) -> str:
        return self.view.task_id


class ProgressBook(Protocol):
    """Followed tasks, kept so that a restart carries on where it stopped."""

    async def knows(self, task_id: str) -> bool:
        """Whether the task is followed, or was."""
        ...

    async def follow(self, task: FollowedTask) -> None:
        """Start following the task (and wake whoever reads the progress streams)."""
        ...

    async def followed(self) -> list[FollowedTask]: ...

    async def advance(self, task: FollowedTask) -> None:
        """Remember the task's view and its last entry shown."""
        ...

    async def end(self, task: FollowedTask) -> None:
        """Stop following the task, as it ended (it stays known, so a repeated intent starts
        nothing)."""
        ...


class ProgressFeed(Protocol):
    async def read(
        self, after: dict[str, str], within_s: float
    ) -> list[tuple[str, str, ProgressEntry | None]]:
        """Entries after the given ids of the given tasks' progress streams, as (task id,
        entry id, entry), waiting up to `within_s` for the first; an invalid entry is None
        (logged, and passed over)."""
        ...


class Told(Protocol):
    """What admins were told already (kept a week)."""

    async def already(self, kind: str, key: str) -> bool: ...

    async def remember(self, kind: str, key: str) -> None: ...
