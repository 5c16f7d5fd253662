"""The per-account limit on generation requests (a moving window in Redis, atomic under load)."""

import math
import time
from functools import cache

from django.conf import settings
from limits import RateLimitItemPerMinute
from limits.storage import RedisStorage
from limits.strategies import MovingWindowRateLimiter


@cache
def _limiter(redis_url: str, key_prefix: str) -> MovingWindowRateLimiter:
    return MovingWindowRateLimiter(RedisStorage(redis_url, key_prefix=f"{key_prefix}:limits"))


def generation_rate_limit_hit(user_id: int) -> int | None:
    """Counts one generation request; None if allowed, else the seconds to wait before the next."""
    limit = RateLimitItemPerMinute(settings.TTS_RATE_LIMIT_PER_MINUTE)
    limiter = _limiter(settings.REDIS_URL, settings.REDIS_KEY_PREFIX)
    if limiter.hit(limit, "generations", str(user_id)):
        return None
    reset_at, _ = limiter.get_window_stats(limit, "generations", str(user_id))
    return max(1, math.ceil(reset_at - time.time()))
