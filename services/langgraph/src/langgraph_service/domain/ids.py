"""Request ids the flows publish with: deterministic, so a step run again after a crash
publishes the same request (and `publish_once` adds nothing), and each names its thread, so a
result finds the flow that waits for it by its request_id alone."""

from __future__ import annotations

# A task id is the thread id; the API's are 32 hex characters. Longer ones would not leave room
# for the suffixes within an Identifier's 128 characters.
MAX_TASK_ID = 64
SEPARATOR = "."


def request_id(task_id: str, *parts: str | int) -> str:
    return SEPARATOR.join([task_id, *(str(part) for part in parts)])


def attempt_id(task_id: str, attempt: int, stage: str, *parts: str) -> str:
    return request_id(task_id, f"a{attempt}", stage, *parts)


def thread_of(request_id: str) -> str:
    """The thread (task) a request id belongs to; for ids not made here, whatever precedes the
    first separator (no flow has that id, so the result is acknowledged and dropped)."""
    return request_id.split(SEPARATOR, 1)[0]


def is_create(request_id: str) -> bool:
    """A worker-create request of a flow (`…{stage}.create`)."""
    return request_id.endswith(SEPARATOR + "create")
