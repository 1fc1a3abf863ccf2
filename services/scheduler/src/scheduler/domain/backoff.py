"""Provisioning retries' rules: which servers still wait for their setup, when the next request
may go, and the request ids that make a request sent twice run once."""

from __future__ import annotations

import re
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError
from shared.contracts import ServerRead, ServerStatus
from shared.contracts.base import Slug

REQUEST_PREFIX = "provision."
_REQUEST_ID = re.compile(
    r"^provision\.(?P<server_id>[a-z0-9-]{1,63})\.(?P<number>[1-9][0-9]{0,8})$"
)
_SLUG: TypeAdapter[str] = TypeAdapter(Slug)
# 2**40 times any sensible first delay is far beyond every longest one.
_MAX_EXPONENT = 40


@dataclass(frozen=True)
class Backoff:
    """The first retry's delay after a request, doubled after each one up to `max_s`."""

    first_s: float
    max_s: float

    def delay_ms(self, attempts: int) -> int:
        """How long after the `attempts`-th request the next one may go."""
        exponent = min(max(attempts - 1, 0), _MAX_EXPONENT)
        return int(min(self.max_s, self.first_s * 2**exponent) * 1000)


def awaiting_setup(server: ServerRead, *, retrying: bool) -> bool:
    """A server waits for its setup while `pending_setup`, and while `unreachable` if its setup
    is what found it so (infra-service marks a server it cannot reach `unreachable`; one that was
    never set up stays ours to retry). A server that went unreachable after it was set up is the
    health checks' business."""
    if server.status is ServerStatus.PENDING_SETUP:
        return True
    return retrying and server.status is ServerStatus.UNREACHABLE


def due(state: tuple[int, int] | None, now_ms: int) -> bool:
    """The first request goes at once; each later one once the last one's delay has passed."""
    return state is None or now_ms >= state[1]


def in_flight(
    state: tuple[int, int] | None,
    *,
    made: int,
    answered: int,
    now_ms: int,
    backoff: Backoff,
    answer_wait_ms: int,
) -> bool:
    """The latest request is still being worked on: unanswered, and sent less than
    `answer_wait_ms` ago (a setup takes minutes; a second request would only queue behind it).
    Past that wait it is taken for lost and the next one may go."""
    if state is None or answered >= made:
        return False
    attempts, next_at_ms = state
    sent_at_ms = next_at_ms - backoff.delay_ms(attempts)
    return now_ms < sent_at_ms + answer_wait_ms


def request_id(server_id: str, number: int) -> str:
    """The same request asked again (a run that died before recording it) has the same id, so
    it is published and run once."""
    return f"{REQUEST_PREFIX}{server_id}.{number}"


def parse_request_id(value: str) -> tuple[str, int] | None:
    """(server id, request number) of a request this job made; None for anyone else's."""
    match = _REQUEST_ID.match(value)
    if match is None:
        return None
    return match["server_id"], int(match["number"])


def handle_of(server: ServerRead) -> str | None:
    """What infra-service is told to set up, and what the request id names: the server's id
    (the API's ids are valid handles); None for one that is not, which is then skipped."""
    try:
        return _SLUG.validate_python(server.id)
    except ValidationError:
        return None
