"""The engines the workers call, as one pool per process (see engine/pool.py), and what the web
last heard from them."""

from functools import cache

from django.conf import settings

from engine.pool import EnginePool

# The web's pool only asks /health: an engine that takes longer than this to answer counts as down.
HEALTH_TIMEOUT_SECONDS = 2.0


@cache
def _pool(urls: tuple[str, ...], timeout: float) -> EnginePool:
    return EnginePool(list(urls), timeout=timeout)


def engine_pool() -> EnginePool:
    return _pool(tuple(settings.ENGINE_URLS), settings.ENGINE_TIMEOUT_SECONDS)


def engines_health() -> dict:
    """Whether any engine answers, and whether one is warm (a cold one loads its model first), as
    this process last heard: every caller shares one background poll of the engines' /health. Only
    the first call of a process waits (up to HEALTH_TIMEOUT_SECONDS) for the first answers."""
    answers = _pool(tuple(settings.ENGINE_URLS), HEALTH_TIMEOUT_SECONDS).health(wait=HEALTH_TIMEOUT_SECONDS + 1)
    up = [answer for answer in answers if answer is not None]
    if not up:
        return {"status": "unavailable", "engines": 0, "configured": len(answers)}
    return {
        "status": "ok",
        "warm": any(answer.get("warm") for answer in up),
        "engines": len(up),
        "configured": len(answers),
    }
