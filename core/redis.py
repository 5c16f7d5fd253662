"""The one place Redis clients are made: a shared client per process for short commands (the relay,
dispatch, socket leases, fit progress) and a fresh async client for a long blocking read."""

from functools import cache

import redis
import redis.asyncio as aioredis
from django.conf import settings


@cache
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def redis_client() -> redis.Redis:
    """The process's Redis client for short commands."""
    return _client_for(settings.REDIS_URL)


def redis_async_client(*, socket_timeout: float | None = None) -> aioredis.Redis:
    """A new async client, for one reader that blocks (the caller closes it). redis-py's default
    socket timeout (5 s) would end a longer blocking read: give one longer than the block."""
    return aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=socket_timeout)


def redis_ping(*, timeout: float = 1.0) -> bool:
    """Whether Redis answers within `timeout` seconds."""
    try:
        return bool(redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=timeout).ping())
    except redis.RedisError:
        return False
