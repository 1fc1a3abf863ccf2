"""A user's conversation with their PO: the session kept for them, and what they are told.

The session (`po:session:{user_id}`, 24 h after the last message) names the user's PO worker and
the agent session it is in. A worker that is alive is talked to again; a new one (after a death,
the session's expiry, or none yet) is created to continue the agent session, so the user keeps
the same conversation whatever happened to the process. `/new` drops the session: the next
message starts a fresh conversation with a fresh worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from shared.contracts import UserRead, WorkerState, new_id

# A worker in these states takes input: a paused one is woken by worker-manager when it has some.
ALIVE = frozenset({WorkerState.STARTING, WorkerState.RUNNING, WorkerState.PAUSED})

REFUSED = (
    "Sorry, this is a private assistant and I do not know you. Ask the people who run it to "
    "register your Telegram account."
)
TEXT_ONLY = "Sorry, I read text only. Please write your message."
EDITS_UNSEEN = (
    "I do not see edits to messages already sent. Please send the corrected text as a new message."
)
TRY_AGAIN_SHORTLY = "Sorry, I cannot reach my services right now. Please try again shortly."
NO_WORKER = (
    "Sorry, I could not start your Product Owner right now. Please try again in a few minutes."
)
WORKER_DIED = (
    "Sorry, your Product Owner stopped while working on your message. A fresh one is taking "
    "it over and continues your conversation."
)
DIED_TWICE = (
    "Sorry, your Product Owner stopped again on this message, so it was not handled. Please "
    "try again later, or /new to start afresh."
)
NO_ANSWER = (
    "Sorry, your Product Owner has not answered for too long, so I stopped waiting. Please "
    "send your message again."
)
NEW_CONVERSATION = "Done: your next message starts a fresh conversation with your Product Owner."


class Kind(StrEnum):
    """What a person sent."""

    TEXT = "text"
    """Text: a message for the PO, or a command."""
    OTHER = "other"
    """A sticker, photo, voice message, file."""
    EDIT = "edit"
    """An edit of a message sent earlier."""


@dataclass(frozen=True)
class Incoming:
    """What a person sent, as the core sees it."""

    chat: str
    """Where to answer."""
    telegram_id: int
    """Who sent it: the API knows users by their Telegram id."""
    text: str = ""
    kind: Kind = Kind.TEXT
    request_id: str = field(default_factory=new_id)
    """The message's own id (the front end makes it from the chat and the message): a message
    delivered twice is answered once, and the PO gets it under this id."""


@dataclass(frozen=True)
class Session:
    """What is kept for a user between messages."""

    chat: str
    """Where the user is answered (the front end's address of their chat)."""
    worker_id: str | None = None
    """Their PO worker, if one was started."""
    agent_session: str | None = None
    """The agent's conversation after the last turn; a new worker continues it."""
    creating: str | None = None
    """The request id of a worker being created: repeated after a restart, it is answered
    with the same worker (worker-manager's creates are idempotent)."""

    def with_worker(self, worker_id: str) -> Session:
        return replace(self, worker_id=worker_id, creating=None)

    def without_worker(self) -> Session:
        return replace(self, worker_id=None, creating=None)

    def continuing(self, agent_session: str | None) -> Session:
        """The session after an output: a new agent session id replaces the old one."""
        if not agent_session or agent_session == self.agent_session:
            return self
        return replace(self, agent_session=agent_session)


def worker_name(user_id: str) -> str:
    return f"po-{user_id}"[:200]


class TurnEnd(StrEnum):
    """How a message's turn with the PO ended."""

    ANSWERED = "answered"
    """The PO's final output came."""
    DIED = "died"
    """The worker died without answering (its death reply, or its state says so)."""
    TIMED_OUT = "timed_out"
    """Nothing final came within the turn's time limit."""


def chat_of(user: UserRead) -> str | None:
    """Where a user of the API is written to: their private chat, whose id is their Telegram
    id; None for a user without one."""
    return str(user.telegram_id) if user.telegram_id else None
