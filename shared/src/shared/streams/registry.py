"""The stream registry: every stream of the system, in one place.

Each entry names the stream (or a pattern with `{placeholders}`), the DTO its entries carry,
who produces it, and the consumer groups that read it. The Redis layer refuses to publish or
consume anything the registry does not know, and `docs/CONTRACTS.md` is generated from here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel, Field, TypeAdapter

from shared.contracts import (
    AnsibleDeployMessage,
    AnsibleDeployResult,
    DeadLetter,
    DeployMessage,
    DeployResult,
    DeveloperWorkerInput,
    DeveloperWorkerOutput,
    EngineeringMessage,
    EngineeringResult,
    LocalChatOutput,
    POWorkerInput,
    POWorkerOutput,
    ProgressEvent,
    ProvisionerMessage,
    ProvisionerResult,
    ScaffolderMessage,
    ScaffolderResult,
    SchedulerRun,
    ServerHealthCheck,
    ServerHealthResult,
    StaleTask,
    TelegramMessage,
    WorkerCommand,
    WorkerLifecycleEvent,
    WorkerResponse,
)

DLQ_SUFFIX = ":dlq"

TaskProgressEntry = Annotated[
    ProgressEvent | EngineeringResult | DeployResult, Field(discriminator="kind")
]


class StreamKind(StrEnum):
    WORK = "work"
    """Read through consumer groups; never trimmed past entries that are still pending."""

    EVENTS = "events"
    """Read by any number of watchers without a group; capped by length."""


class Group(StrEnum):
    """Every consumer group: a consumer names its group through this, never as a literal."""

    DEVELOPER_WORKERS = "developer-workers"
    INFRA_SERVICE = "infra-service"
    LANGGRAPH = "langgraph"
    PO_WORKER = "po-worker"
    SCAFFOLDER = "scaffolder"
    SCHEDULER = "scheduler"
    TELEGRAM_BOT = "telegram-bot"
    WORKER_MANAGER = "worker-manager"


class UnknownStream(LookupError):
    """The registry has no stream of that name."""


class WrongMessageType(TypeError):
    """A message was published to a stream that carries another DTO."""


@dataclass(frozen=True)
class StreamSpec:
    pattern: str
    schema: Any = field(repr=False)
    producers: tuple[str, ...]
    groups: tuple[str, ...] = ()
    kind: StreamKind = StreamKind.WORK
    maxlen: int | None = None
    description: str = ""

    @cached_property
    def adapter(self) -> TypeAdapter[Any]:
        return TypeAdapter(self.schema)

    @cached_property
    def message_types(self) -> tuple[type[BaseModel], ...]:
        schema = self.schema
        if get_origin(schema) is Annotated:
            schema = get_args(schema)[0]
        members = get_args(schema) or (schema,)
        return tuple(m for m in members if isinstance(m, type) and issubclass(m, BaseModel))

    @cached_property
    def _regex(self) -> re.Pattern[str]:
        parts = re.split(r"\{(\w+)\}", self.pattern)
        regex = "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>[^:]+)" for i, part in enumerate(parts)
        )
        return re.compile(f"^{regex}$")

    @property
    def is_pattern(self) -> bool:
        return "{" in self.pattern

    def matches(self, stream: str) -> bool:
        return self._regex.match(stream) is not None

    def name(self, **params: str) -> str:
        """The concrete stream name for a pattern's parameters."""
        for key, value in params.items():
            if not value or ":" in value or "{" in value:
                raise ValueError(f"invalid stream parameter {key}={value!r}")
        return self.pattern.format(**params)


DEAD_LETTERS = StreamSpec(
    pattern="{stream}:dlq",
    schema=DeadLetter,
    producers=("the Redis layer",),
    kind=StreamKind.EVENTS,
    description="Entries given up on, with the reason; one per source stream. Never trimmed.",
)


class StreamRegistry:
    def __init__(self, specs: list[StreamSpec]) -> None:
        self.specs = tuple(specs)
        self._exact = {s.pattern: s for s in specs if not s.is_pattern}
        self._patterns = [s for s in specs if s.is_pattern]

    def resolve(self, stream: str) -> StreamSpec:
        """The spec of a concrete stream name."""
        if stream.endswith(DLQ_SUFFIX):
            self.resolve(stream.removesuffix(DLQ_SUFFIX))
            return DEAD_LETTERS
        if spec := self._exact.get(stream):
            return spec
        for spec in self._patterns:
            if spec.matches(stream):
                return spec
        raise UnknownStream(f"no stream named {stream!r} in the registry")

    def check_message(self, stream: str, message: BaseModel) -> StreamSpec:
        spec = self.resolve(stream)
        if not isinstance(message, spec.message_types):
            allowed = ", ".join(t.__name__ for t in spec.message_types)
            raise WrongMessageType(
                f"{type(message).__name__} cannot go to {stream!r}; it carries {allowed}"
            )
        return spec


ENGINEERING_QUEUE = StreamSpec(
    "engineering:queue", EngineeringMessage, ("orchestrator-cli",),
    (Group.LANGGRAPH, Group.TELEGRAM_BOT),
    description="Engineering intents from the PO (the bot reads them to follow its users' tasks).",
)  # fmt: skip
DEPLOY_QUEUE = StreamSpec(
    "deploy:queue", DeployMessage, ("orchestrator-cli",), (Group.LANGGRAPH, Group.TELEGRAM_BOT),
    description="Deploy intents from the PO (the bot reads them to follow its users' tasks).",
)  # fmt: skip
SCAFFOLDER_QUEUE = StreamSpec(
    "scaffolder:queue", ScaffolderMessage, ("langgraph",), (Group.SCAFFOLDER,),
    description="Repositories to create from the service template.",
)  # fmt: skip
SCAFFOLDER_RESULTS = StreamSpec(
    "scaffolder:results", ScaffolderResult, ("scaffolder",), (Group.LANGGRAPH,),
    description="Outcomes of scaffolding requests.",
)  # fmt: skip
ANSIBLE_DEPLOY_QUEUE = StreamSpec(
    "ansible:deploy:queue", AnsibleDeployMessage, ("langgraph",), (Group.INFRA_SERVICE,),
    description="Deploy jobs for infra-service: one commit to one server.",
)  # fmt: skip
DEPLOY_RESULTS = StreamSpec(
    "deploy:results", AnsibleDeployResult, ("infra-service",), (Group.LANGGRAPH,),
    description="Outcomes of Ansible deploy jobs.",
)  # fmt: skip
PROVISIONER_QUEUE = StreamSpec(
    "provisioner:queue", ProvisionerMessage, ("scheduler",), (Group.INFRA_SERVICE,),
    description="Servers to set up.",
)  # fmt: skip
PROVISIONER_RESULTS = StreamSpec(
    "provisioner:results", ProvisionerResult, ("infra-service",),
    (Group.SCHEDULER, Group.TELEGRAM_BOT),
    description="Outcomes of provisioning; the bot tells admins.",
)  # fmt: skip
SERVER_HEALTH_QUEUE = StreamSpec(
    "infra:health:queue", ServerHealthCheck, ("scheduler",), (Group.INFRA_SERVICE,),
    description="Servers to check for reachability (SSH keys stay inside infra-service).",
)  # fmt: skip
SERVER_HEALTH_RESULTS = StreamSpec(
    "infra:health:results", ServerHealthResult, ("infra-service",), (Group.SCHEDULER,),
    description="Whether each checked server answered; the scheduler keeps servers' status "
    "and outage incidents from them.",
)  # fmt: skip
STALE_TASKS = StreamSpec(
    "tasks:stale", StaleTask, ("scheduler",), (Group.LANGGRAPH,),
    description="Tasks open long past any stage's time limit, handed to their flow's timeout "
    "path (a task with no flow at all is failed by langgraph, with the user told).",
)  # fmt: skip
SCHEDULER_RUNS = StreamSpec(
    "scheduler:runs", SchedulerRun, ("scheduler",), kind=StreamKind.EVENTS, maxlen=1000,
    description="Every run of every scheduler job as it ended: fence, replica, outcome, counts.",
)  # fmt: skip
WORKER_COMMANDS = StreamSpec(
    "worker:commands", WorkerCommand, ("langgraph", "telegram-bot", "scheduler"),
    (Group.WORKER_MANAGER,),
    description="Create, delete and status commands for workers.",
)  # fmt: skip
WORKER_RESPONSES_PO = StreamSpec(
    "worker:responses:po", WorkerResponse, ("worker-manager",), (Group.TELEGRAM_BOT,),
    description="Answers to commands about PO workers.",
)  # fmt: skip
WORKER_RESPONSES_DEVELOPER = StreamSpec(
    "worker:responses:developer", WorkerResponse, ("worker-manager",), (Group.LANGGRAPH,),
    description="Answers to commands about developer workers.",
)  # fmt: skip
WORKER_LIFECYCLE = StreamSpec(
    "worker:lifecycle", WorkerLifecycleEvent, ("worker-wrapper",), (Group.WORKER_MANAGER,),
    description="Workers' lifecycle events; worker-manager is the only consumer.",
)  # fmt: skip
PO_INPUT = StreamSpec(
    "worker:po:{worker_id}:input", POWorkerInput, ("telegram-bot",), (Group.PO_WORKER,),
    description="A PO worker's input: the user's messages.",
)  # fmt: skip
PO_OUTPUT = StreamSpec(
    "worker:po:{worker_id}:output", POWorkerOutput,
    ("worker-wrapper", "orchestrator-cli", "worker-manager"),
    (Group.TELEGRAM_BOT,),
    description="A PO worker's answers.",
)  # fmt: skip
DEVELOPER_INPUT = StreamSpec(
    "worker:developer:{worker_id}:input", DeveloperWorkerInput, ("langgraph",),
    (Group.DEVELOPER_WORKERS,),
    description="A developer worker's own input: the runs the flow created it for (a worker "
    "is made for one role and one task, so no other worker may take them).",
)  # fmt: skip
DEVELOPER_OUTPUT = StreamSpec(
    "worker:developer:output", DeveloperWorkerOutput, ("worker-wrapper", "worker-manager"),
    (Group.LANGGRAPH,),
    description="Every outcome of developer work, crashes included (the single listener).",
)  # fmt: skip
TELEGRAM_INBOX = StreamSpec(
    "telegram:inbox", TelegramMessage, ("telegram-bot", "codegen"), (Group.TELEGRAM_BOT,),
    description="What people send the bot: from Telegram, appended before Telegram is told it "
    "was received; from the local chat (`codegen chat`, MODE=local), appended by the terminal. "
    "The bot queues each for its person (once, by request_id) and answers it in turn.",
)  # fmt: skip
TASK_PROGRESS = StreamSpec(
    "task_progress:{task_id}", TaskProgressEntry, ("langgraph", "scaffolder", "infra-service"),
    kind=StreamKind.EVENTS, maxlen=1000,
    description="Progress of one task and its final result, for the bot and the local chat.",
)  # fmt: skip
LOCAL_CHAT_OUTBOX = StreamSpec(
    "chat:local:{chat_id}:outbox", LocalChatOutput, ("telegram-bot",),
    kind=StreamKind.EVENTS, maxlen=1000,
    description="What the bot says in a local chat (MODE=local), read by the terminal with "
    "XREAD: new messages and edits, in order, with ids from chat:local:{chat_id}:message_ids.",
)  # fmt: skip

REGISTRY = StreamRegistry(
    [
        ENGINEERING_QUEUE,
        DEPLOY_QUEUE,
        SCAFFOLDER_QUEUE,
        SCAFFOLDER_RESULTS,
        ANSIBLE_DEPLOY_QUEUE,
        DEPLOY_RESULTS,
        PROVISIONER_QUEUE,
        PROVISIONER_RESULTS,
        SERVER_HEALTH_QUEUE,
        SERVER_HEALTH_RESULTS,
        STALE_TASKS,
        SCHEDULER_RUNS,
        WORKER_COMMANDS,
        WORKER_RESPONSES_PO,
        WORKER_RESPONSES_DEVELOPER,
        WORKER_LIFECYCLE,
        PO_INPUT,
        PO_OUTPUT,
        DEVELOPER_INPUT,
        DEVELOPER_OUTPUT,
        TELEGRAM_INBOX,
        TASK_PROGRESS,
        LOCAL_CHAT_OUTBOX,
    ]
)


def dlq_stream(stream: str) -> str:
    return stream + DLQ_SUFFIX
