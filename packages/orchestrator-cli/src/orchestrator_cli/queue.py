"""Publishing to the system's streams through the shared streams layer (imported lazily: only
the commands that publish pay for redis and pydantic)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchestrator_cli.errors import RedisUnavailable

if TYPE_CHECKING:
    from pydantic import BaseModel


class RedisQueue:
    def __init__(self, redis_url: str) -> None:
        self._redis_url = redis_url

    def publish(self, stream: str, message: BaseModel) -> str:
        import asyncio

        return asyncio.run(self._publish(stream, message))

    def ping(self, streams: list[str]) -> dict[str, Any]:
        import asyncio

        return asyncio.run(self._ping(streams))

    async def _publish(self, stream: str, message: BaseModel) -> str:
        from shared.streams import RedisStreamPublisher, connect_redis

        client = connect_redis(self._redis_url)
        try:
            return await RedisStreamPublisher(client).publish(stream, message)
        except (OSError, ConnectionError) as exc:
            raise RedisUnavailable(f"Redis is unreachable: {exc}") from None
        except Exception as exc:
            if _is_redis_error(exc):
                raise RedisUnavailable(f"Redis refused the message: {exc}") from None
            raise
        finally:
            await client.aclose()

    async def _ping(self, streams: list[str]) -> dict[str, Any]:
        from shared.streams import connect_redis

        client = connect_redis(self._redis_url)
        try:
            await client.ping()
            lengths = {s: await client.xlen(s) for s in streams}
            return {"redis_version": await _version(client), "stream_lengths": lengths}
        except Exception as exc:
            if isinstance(exc, OSError | ConnectionError) or _is_redis_error(exc):
                raise RedisUnavailable(f"Redis is unreachable: {exc}") from None
            raise
        finally:
            await client.aclose()


async def _version(client: Any) -> str | None:
    """The server's version, when this worker's Redis user may ask (INFO is not an agent's)."""
    from redis.exceptions import NoPermissionError

    try:
        info = await client.info("server")
    except NoPermissionError:
        return None
    return str(info.get("redis_version")) if info.get("redis_version") else None


def _is_redis_error(exc: Exception) -> bool:
    from redis.exceptions import RedisError

    return isinstance(exc, RedisError)
