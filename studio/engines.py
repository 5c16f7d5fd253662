"""The engines the workers call, as one pool per process (see engine/pool.py)."""

from functools import cache

from django.conf import settings

from engine.pool import EnginePool


@cache
def _pool(urls: tuple[str, ...], timeout: float) -> EnginePool:
    return EnginePool(list(urls), timeout=timeout)


def engine_pool() -> EnginePool:
    return _pool(tuple(settings.ENGINE_URLS), settings.ENGINE_TIMEOUT_SECONDS)
