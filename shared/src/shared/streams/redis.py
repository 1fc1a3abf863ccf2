"""The one way the system opens a Redis client."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

# A blocking read (XREADGROUP BLOCK) must end on the server's side, not by the socket timing out:
# a reply lost to a timeout leaves its entries pending, unhandled until they are reclaimed.
SOCKET_TIMEOUT_S = 30.0


def connect_redis(url: str) -> Redis:
    """A client that decodes responses to str (the layer relies on it) and retries briefly."""
    return Redis.from_url(
        url,
        decode_responses=True,
        health_check_interval=30,
        socket_connect_timeout=5,
        socket_timeout=SOCKET_TIMEOUT_S,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=3),
    )
