"""What a stream handler may raise to tell the consumer how an entry ended (no Redis here, so
handlers that only reach the world through ports can raise it)."""

from __future__ import annotations


class PermanentFailure(Exception):
    """Raised by a handler when the entry can never succeed (bad input the contract let through,
    a 4xx from the API): the entry is dead-lettered at once instead of retried."""
