"""A wake signal for a free worker, so the next generation starts without a Celery round trip.

A worker process whose turn finds nothing to claim waits a little on a Redis list before it gives
its process back to Celery (one process at a time, so the others stay free for Celery's other
tasks); a new generation that may run pushes to the list as its bell rings. The list holds no
state: it says "look at the rows again", nothing more. A lost push costs one Celery round trip
(the bell still comes); a stale one costs one empty claim.
"""

import uuid

from django.conf import settings

from core.redis import redis_client

# Pushes kept at most: a burst of new work wakes the waiting worker once, then it claims in turn.
_KEPT = 16


def _key(name: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:dispatch:{name}"


def workers_wake() -> None:
    """Tells a worker waiting for work (if one is) to look at the rows again."""
    pipe = redis_client().pipeline()
    pipe.lpush(_key("wake"), 1)
    pipe.ltrim(_key("wake"), 0, _KEPT - 1)
    pipe.expire(_key("wake"), 60)
    pipe.execute()


def work_wait(*, seconds: float) -> bool:
    """Waits up to `seconds` for a wake, as the one waiting worker: True if one came (a claim may
    find work, or another worker was quicker); False at once if another worker already waits."""
    client = redis_client()
    me = uuid.uuid4().hex
    if not client.set(_key("waiting"), me, nx=True, ex=int(seconds) + 5):
        return False
    try:
        return client.blpop([_key("wake")], timeout=seconds) is not None
    finally:
        if client.get(_key("waiting")) == me.encode():
            client.delete(_key("waiting"))
