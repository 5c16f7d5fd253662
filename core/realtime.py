"""The Channels groups the Studio's websockets listen on, sending to them, and the count of each
account's open sockets.

Every web process reads the layer through one Redis pub/sub connection, so a socket handles the
events in the order Redis took them, whichever process (web, worker) sent them: an "access.check"
sent when access ends comes before any update sent after it.
"""

import hashlib
import uuid
from collections.abc import Iterable
from functools import cache

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction

from core.redis import redis_client


def session_group_name(session_id: uuid.UUID | str) -> str:
    return f"studio.session.{session_id}"


def session_broadcast(session_id: uuid.UUID | str, event: dict) -> None:
    """Sends an event (its "type" names the consumer's handler) to everyone viewing a session."""
    async_to_sync(get_channel_layer().group_send)(session_group_name(session_id), event)


def user_group_name(user_id: int) -> str:
    return f"studio.user.{user_id}"


def user_broadcast(user_id: int, event: dict) -> None:
    """Sends an event to every Studio page the account has open (its balance, say)."""
    async_to_sync(get_channel_layer().group_send)(user_group_name(user_id), event)


# ---------- when access ends ----------


def sessions_access_check_on_commit(session_ids: Iterable[uuid.UUID | str], *, user_id: int | None = None) -> None:
    """Once the transaction commits, the sockets on these sessions (only `user_id`'s, if given) look
    again at whether their user may still see it, and close if not."""
    session_ids = list(dict.fromkeys(session_ids))
    event = {"type": "access.check", "user_id": user_id}

    def send() -> None:
        for session_id in session_ids:
            session_broadcast(session_id, event)

    if session_ids:
        transaction.on_commit(send)


def user_access_check_on_commit(user_id: int) -> None:
    """Once the transaction commits, every socket of the account looks again (it was deactivated)."""
    transaction.on_commit(lambda: user_broadcast(user_id, {"type": "access.check", "user_id": user_id}))


def browser_session_digest(session_key: str) -> str:
    """Names a browser's sign-in without sending its key through Redis."""
    return hashlib.sha256(session_key.encode()).hexdigest()


def user_signed_out_broadcast(user_id: int, session_key: str | None) -> None:
    """Closes the account's sockets opened with this browser's sign-in (all of them if unknown)."""
    digest = browser_session_digest(session_key) if session_key else None
    user_broadcast(user_id, {"type": "access.signed_out", "session_digest": digest})


# ---------- open sockets per account ----------

# An open socket renews its place every third of this; one whose process died stops counting after it.
WEBSOCKET_LEASE_SECONDS = 60.0

# Drops the leases that ran out, then takes (or renews) this socket's unless the account has its
# most already. Redis's clock, so web processes on several machines agree.
_LEASE_TAKE = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) and redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]))) end
return 1
"""


@cache
def _lease_take_script():
    return redis_client().register_script(_LEASE_TAKE)


def _leases_key(user_id: int) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:websockets:{user_id}"


def websocket_lease_take(*, user_id: int, socket_id: str, lease_seconds: float = WEBSOCKET_LEASE_SECONDS) -> bool:
    """Counts an open socket of the account (or renews its count); False if the account already has
    WEBSOCKETS_PER_USER_MAX open."""
    args = [socket_id, lease_seconds, settings.WEBSOCKETS_PER_USER_MAX]
    return bool(_lease_take_script()(keys=[_leases_key(user_id)], args=args))


def websocket_lease_release(*, user_id: int, socket_id: str) -> None:
    redis_client().zrem(_leases_key(user_id), socket_id)
