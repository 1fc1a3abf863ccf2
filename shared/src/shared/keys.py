"""The key registry: every Redis key (other than a stream) that the system writes, in one place.

Each entry names the key (a pattern with `{placeholders}`), what it holds and in which DTO, who
writes it, who reads it, and how long it lives. Code builds key names only through `KeySpec.name`
and reads shared values through `KeySpec.parse`; `docs/CONTRACTS.md` is generated from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from pydantic import BaseModel

from shared.contracts import JobState, WorkerHeartbeat, WorkerStatus

DAY_S = 24 * 3600
WEEK_S = 7 * DAY_S
# A parameter becomes part of a key: text without spaces, braces or control characters.
_PARAMETER = re.compile(r"^[^\s{}\x00-\x1f\x7f]{1,512}$")


class KeyType(StrEnum):
    STRING = "string"
    JSON = "JSON string"
    HASH = "hash"
    SET = "set"


@dataclass(frozen=True)
class KeySpec:
    pattern: str
    holds: KeyType
    writers: tuple[str, ...]
    readers: tuple[str, ...]
    lifetime: str
    description: str
    schema: type[BaseModel] | None = field(default=None, repr=False)

    def name(self, **params: str) -> str:
        """The concrete key for the pattern's parameters; refuses a parameter that could reach
        into another key's name (empty, spaces, braces, control characters)."""
        for key, value in params.items():
            if not _PARAMETER.match(value):
                raise ValueError(f"invalid key parameter {key}={value[:80]!r}")
        return self.pattern.format(**params)

    def parse(self, raw: Any) -> Any:
        """A stored value as its DTO: a JSON string or a hash's fields (empty ones left out)."""
        if self.schema is None:
            raise TypeError(f"{self.pattern} holds no DTO")
        if isinstance(raw, str | bytes):
            return self.schema.model_validate_json(raw)
        return self.schema.model_validate({k: v for k, v in dict(raw).items() if v != ""})


WORKER_STATUS = KeySpec(
    "worker:status:{worker_id}", KeyType.HASH, ("worker-manager",),
    ("worker-manager", "langgraph", "telegram-bot", "scheduler"),
    "while the worker lives; STATUS_TTL_S (default 1 day) once it ended",
    "A worker's state (the WorkerStatus fields) and what worker-manager needs to manage it: "
    "backend handle, key id, user, last activity.",
    WorkerStatus,
)  # fmt: skip
WORKER_HEARTBEAT = KeySpec(
    "worker:heartbeat:{worker_id}", KeyType.JSON, ("worker-wrapper",), ("worker-manager",),
    "HEARTBEAT_TTL_S (default 30 s), refreshed every third of it; deleted when the worker stops",
    "The worker's own word on what it is doing: a missing key means a silent worker.",
    WorkerHeartbeat,
)  # fmt: skip
WORKER_SESSION = KeySpec(
    "worker:session:{worker_id}", KeyType.STRING, ("worker-wrapper",), ("worker-wrapper",),
    "1 week after the last turn",
    "A PO worker's agent session id: a restarted worker continues the conversation.",
)  # fmt: skip
WORKER_CREATED_BY = KeySpec(
    "worker:created-by:{request_id}", KeyType.STRING, ("worker-manager",), ("worker-manager",),
    "1 week",
    "The worker a create request started: a redelivered create gets the same worker back.",
)  # fmt: skip
WORKERS_LIVE = KeySpec(
    "workers:live", KeyType.SET, ("worker-manager",), ("worker-manager", "scheduler"), "no expiry",
    "Ids of the workers that are starting, running or paused.",
)  # fmt: skip
WORKERS_ENDED = KeySpec(
    "workers:ended", KeyType.SET, ("worker-manager",), ("worker-manager",), "no expiry",
    "Ids of ended workers whose container, processes or workspace are still to be removed.",
)  # fmt: skip
WORKER_IMAGES_LAST_USED = KeySpec(
    "worker-images:last-used", KeyType.HASH, ("worker-manager",), ("worker-manager",),
    "no expiry", "When each worker image tag was last used, for the image garbage collector.",
)  # fmt: skip
IDEMPOTENCY = KeySpec(
    "idempotency:{scope}:{request_id}", KeyType.STRING, ("every consumer",), ("every consumer",),
    "a claim's lease while the effect runs; `done` for 1 week after",
    "Runs a request's effect once however often it is delivered.",
)  # fmt: skip
CONSUMER_FAILURES = KeySpec(
    "{stream}:{group}:failures", KeyType.HASH, ("every consumer",), ("operators",),
    "an entry's field is removed when the entry is acknowledged",
    "The last error of each entry still pending in a group, by entry id.",
)  # fmt: skip
INFRA_RESULT = KeySpec(
    "infra:result:{scope}:{request_id}", KeyType.JSON, ("infra-service",), ("infra-service",),
    "1 week", "A deploy or provisioning job's result: a redelivered request gets it again.",
)  # fmt: skip
INFRA_DEPLOY_LOCK = KeySpec(
    "infra:deploy-lock:{server_id}:{project_id}", KeyType.STRING, ("infra-service",),
    ("infra-service",), "the job's time limit + 2 min",
    "One deploy of a project to a server at a time.",
)  # fmt: skip
INFRA_PROVISION_LOCK = KeySpec(
    "infra:provision-lock:{server_id}", KeyType.STRING, ("infra-service",), ("infra-service",),
    "the job's time limit + 2 min", "One provisioning of a server at a time.",
)  # fmt: skip

SCAFFOLDER_RESULT = KeySpec(
    "scaffolder:result:{request_id}", KeyType.JSON, ("scaffolder",), ("scaffolder",), "1 week",
    "A scaffolding request's result: a redelivered request gets it again, nothing is redone.",
)  # fmt: skip

SCHEDULER_JOBS = KeySpec(
    "scheduler:jobs", KeyType.SET, ("scheduler",), ("codegen",), "no expiry",
    "The names of the scheduler's jobs, for `codegen status`.",
)  # fmt: skip
SCHEDULER_JOB = KeySpec(
    "scheduler:job:{job}", KeyType.HASH, ("scheduler",), ("scheduler", "codegen"), "no expiry",
    "A job's shared state: running or idle, the last run's fence, replica, times and outcome, "
    "and when it is next due (ms of Redis's clock). Written only by the scheduler's scripts.",
    JobState,
)  # fmt: skip
SCHEDULER_JOB_LOCK = KeySpec(
    "scheduler:lock:{job}", KeyType.STRING, ("scheduler",), ("scheduler",),
    "LEASE_S, renewed every third of it while the run lives",
    "`{fence}:{replica}` of the run that holds the job: one run of a job at a time.",
)  # fmt: skip
SCHEDULER_JOB_FENCE = KeySpec(
    "scheduler:fence:{job}", KeyType.STRING, ("scheduler",), ("scheduler",), "no expiry",
    "A counter (INCR): each run's fencing token, one more than the last.",
)  # fmt: skip
SCHEDULER_DLQ_SEEN = KeySpec(
    "scheduler:dlq-seen", KeyType.HASH, ("scheduler",), ("scheduler",), "no expiry",
    "How many dead letters each dead-letter stream held at the last housekeeping run.",
)  # fmt: skip
SCHEDULER_PROVISIONING = KeySpec(
    "scheduler:provisioning:{server_id}", KeyType.HASH, ("scheduler",), ("scheduler",),
    "1 week after the last retry",
    "A server's provisioning retries: this round's attempts and when the next may go, how many "
    "requests ever went (so no request id is reused) and the latest one answered.",
)  # fmt: skip

PO_SESSION = KeySpec(
    "po:session:{user_id}", KeyType.HASH, ("telegram-bot",), ("telegram-bot",),
    "24 h after the user's last message",
    "A user's conversation: their PO worker and the agent session a new worker continues.",
)  # fmt: skip

PUBLISHED = KeySpec(
    "published:{stream}:{request_id}", KeyType.STRING, ("langgraph", "telegram-bot"),
    ("langgraph", "telegram-bot"), "1 week",
    "Marks a message published once (`publish_once`): a step re-run after a crash adds nothing.",
)  # fmt: skip

LOCAL_CHAT_MESSAGE_IDS = KeySpec(
    "chat:local:{chat_id}:message_ids", KeyType.STRING, ("telegram-bot", "codegen"),
    ("telegram-bot", "codegen"), "no expiry",
    "A counter (INCR): every message id of a local chat (MODE=local), the person's and the "
    "bot's, is taken from it, so none repeats across restarts of either.",
)  # fmt: skip

KEYS: tuple[KeySpec, ...] = (
    WORKER_STATUS,
    WORKER_HEARTBEAT,
    WORKER_SESSION,
    WORKER_CREATED_BY,
    WORKERS_LIVE,
    WORKERS_ENDED,
    WORKER_IMAGES_LAST_USED,
    IDEMPOTENCY,
    CONSUMER_FAILURES,
    INFRA_RESULT,
    INFRA_DEPLOY_LOCK,
    INFRA_PROVISION_LOCK,
    SCAFFOLDER_RESULT,
    SCHEDULER_JOBS,
    SCHEDULER_JOB,
    SCHEDULER_JOB_LOCK,
    SCHEDULER_JOB_FENCE,
    SCHEDULER_DLQ_SEEN,
    SCHEDULER_PROVISIONING,
    PO_SESSION,
    PUBLISHED,
    LOCAL_CHAT_MESSAGE_IDS,
)
