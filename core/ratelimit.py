"""Per-account limits on requests (moving windows in Redis, atomic under load): generations a
minute, voice-clone attempts an hour. Each counted request's response carries its window as
RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset (seconds until there is room again)."""

import math
import time
from functools import cache

from django.conf import settings
from limits import RateLimitItem, RateLimitItemPerHour, RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter

from core.request_context import response_headers_add


@cache
def _limiter(redis_url: str, key_prefix: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=f"{key_prefix}:limits"))


def _hit(limit: RateLimitItem, what: str, user_id: int) -> int | None:
    """Counts one request; None if allowed, else the seconds to wait before the next."""
    limiter = _limiter(settings.REDIS_URL, settings.REDIS_KEY_PREFIX)
    allowed = limiter.hit(limit, what, str(user_id))
    reset_at, remaining = limiter.get_window_stats(limit, what, str(user_id))
    reset = max(1, math.ceil(reset_at - time.time()))
    response_headers_add(
        {
            "RateLimit-Limit": str(limit.amount),
            "RateLimit-Remaining": str(max(0, remaining)),
            "RateLimit-Reset": str(reset),
        }
    )
    return None if allowed else reset


def generation_rate_limit_hit(user_id: int) -> int | None:
    """Counts one generation request; None if allowed, else the seconds to wait before the next."""
    return _hit(RateLimitItemPerMinute(settings.TTS_RATE_LIMIT_PER_MINUTE), "generations", user_id)


def clone_rate_limit_hit(user_id: int) -> int | None:
    """Counts one attempt to create a voice clone, whatever comes of it (each one decodes an upload
    and may call the engine); None if allowed, else the seconds to wait before the next."""
    return _hit(RateLimitItemPerHour(settings.VOICE_CLONE_RATE_LIMIT_PER_HOUR), "voice-clones", user_id)
