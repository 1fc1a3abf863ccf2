"""The Redis Streams layer: typed publish, group consumption, reclaim, dead letters, idempotency."""

from shared.streams.consumer import (
    ConsumerOptions,
    Handler,
    StreamConsumer,
    raise_if_cancelled,
)
from shared.streams.errors import PermanentFailure
from shared.streams.events import read_events
from shared.streams.idempotency import Idempotency, Outcome, RequestInProgress
from shared.streams.publisher import RedisStreamPublisher
from shared.streams.redis import connect_redis
from shared.streams.registry import (
    REGISTRY,
    Group,
    StreamKind,
    StreamRegistry,
    StreamSpec,
    UnknownStream,
    WrongMessageType,
    dlq_stream,
)
from shared.streams.trim import trim_acknowledged
from shared.streams.wire import InvalidEntry, UndecodableEntry, decode, encode

__all__ = [
    "REGISTRY",
    "ConsumerOptions",
    "Group",
    "Handler",
    "Idempotency",
    "InvalidEntry",
    "Outcome",
    "PermanentFailure",
    "RedisStreamPublisher",
    "RequestInProgress",
    "StreamConsumer",
    "StreamKind",
    "StreamRegistry",
    "StreamSpec",
    "UndecodableEntry",
    "UnknownStream",
    "WrongMessageType",
    "connect_redis",
    "decode",
    "dlq_stream",
    "encode",
    "raise_if_cancelled",
    "read_events",
    "trim_acknowledged",
]
