"""Fair dispatch of generations across accounts, in Redis.

One Celery queue is first in, first out: an account that sends fifty requests at once would make
everyone else wait behind all fifty. Instead each account has a queue of its own, and a worker
that is free takes the next generation of the account served longest ago, skipping accounts that
already run their share (`GENERATION_ACCOUNT_CONCURRENCY`). The Celery message is only a token
that says "there is work": a token claims whatever is fairest when it runs.

A token is sent only for a generation that may run at once (submitted under the account's share);
a worker that ends a job claims the next itself. So a flood does not fill the Celery queue with
tokens that would find nothing; a token that finds nothing does nothing. An account's share is
counted by entries that expire unless the job's heartbeat renews them, so a worker that dies does
not hold a share for ever; the job itself is given back by the sweep (`studio.services.generations_sweep`).

A worker process that finds nothing to run waits a little on a wake list before it gives its
process back to Celery (one process at a time, `dispatch_wait`), so the next request often starts
without a Celery round trip; its token, coming later, then finds nothing.

Keys (under REDIS_KEY_PREFIX):
    dispatch:accounts        sorted set: accounts with queued work, by when last served (0: never)
    dispatch:queue:<user>    sorted set: the account's queued generations, oldest first
    dispatch:running:<user>  sorted set: the account's running generations, by expiry (ms)
    dispatch:served          counter giving each claim its turn
    dispatch:wake            list: pushed when work that may run is queued, for a waiting worker
    dispatch:waiting         which worker process waits on the wake list (one at a time)
"""

import uuid
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings

from core.redis import redis_client

# Redis's clock in milliseconds, the same for every worker; each script starts with it.
_NOW_MS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_ENQUEUE = (
    _NOW_MS
    + """
-- KEYS: accounts, queue, running, wake; ARGV: user, generation, score, share
-- Returns {added, runnable}: whether it was not queued yet, and whether a worker may claim it at
-- once (the account is under its share); then it also wakes a worker waiting on the wake list.
redis.call('ZADD', KEYS[1], 'NX', 0, ARGV[1])
local added = redis.call('ZADD', KEYS[2], 'NX', ARGV[3], ARGV[2])
if added == 0 then return {0, 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local busy = redis.call('ZCARD', KEYS[3]) + redis.call('ZCARD', KEYS[2]) - 1
if busy >= tonumber(ARGV[4]) then return {1, 0} end
redis.call('LPUSH', KEYS[4], 1)
redis.call('LTRIM', KEYS[4], 0, 15)
redis.call('EXPIRE', KEYS[4], 60)
return {1, 1}
"""
)

_CLAIM = (
    _NOW_MS
    + """
-- KEYS: accounts, served; ARGV: prefix, share, lease_ms
-- Takes the oldest generation of the account served longest ago that is under its share.
local share = tonumber(ARGV[2])
for _, user in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local queue = ARGV[1] .. 'queue:' .. user
  local running = ARGV[1] .. 'running:' .. user
  redis.call('ZREMRANGEBYSCORE', running, '-inf', now)
  if redis.call('ZCARD', running) < share then
    local popped = redis.call('ZPOPMIN', queue)
    if popped[1] then
      redis.call('ZADD', running, now + tonumber(ARGV[3]), popped[1])
      redis.call('PEXPIRE', running, tonumber(ARGV[3]) * 2)
      if redis.call('ZCARD', queue) > 0 then
        redis.call('ZADD', KEYS[1], redis.call('INCR', KEYS[2]), user)
      else
        redis.call('ZREM', KEYS[1], user)
      end
      return {user, popped[1]}
    end
    redis.call('ZREM', KEYS[1], user)
  end
end
return false
"""
)

_CLAIMABLE = (
    _NOW_MS
    + """
-- KEYS: accounts; ARGV: prefix, share. How many generations could be claimed now.
local share = tonumber(ARGV[2])
local total = 0
for _, user in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local running = ARGV[1] .. 'running:' .. user
  redis.call('ZREMRANGEBYSCORE', running, '-inf', now)
  local free = share - redis.call('ZCARD', running)
  local queued = redis.call('ZCARD', ARGV[1] .. 'queue:' .. user)
  if free > 0 then total = total + math.min(free, queued) end
end
return total
"""
)


@dataclass(frozen=True)
class Enqueued:
    added: bool  # it was not in the queue yet
    runnable: bool  # a worker may claim it at once: send a token


@dataclass(frozen=True)
class Claim:
    user_id: int
    generation_id: uuid.UUID


def _prefix() -> str:
    return f"{settings.REDIS_KEY_PREFIX}:dispatch:"


def _share() -> int:
    return settings.GENERATION_ACCOUNT_CONCURRENCY


@cache
def _script(source: str) -> redis.commands.core.Script:
    return redis_client().register_script(source)


def dispatch_enqueue(*, user_id: int, generation_id: uuid.UUID, order: float) -> Enqueued:
    """Queues a generation for its account, in `order` (lower goes first; a job given back after
    its worker died goes before new ones). Queuing one already queued changes nothing."""
    prefix = _prefix()
    keys = [f"{prefix}accounts", f"{prefix}queue:{user_id}", f"{prefix}running:{user_id}", f"{prefix}wake"]
    added, runnable = _script(_ENQUEUE)(keys=keys, args=[user_id, str(generation_id), order, _share()])
    return Enqueued(added=bool(added), runnable=bool(runnable))


def dispatch_claim(*, lease_seconds: float) -> Claim | None:
    """The fairest queued generation, now counted in its account's share for `lease_seconds`
    (renewed by `dispatch_renew`), or None if nothing may run now."""
    prefix = _prefix()
    claimed = _script(_CLAIM)(
        keys=[f"{prefix}accounts", f"{prefix}served"], args=[prefix, _share(), int(lease_seconds * 1000)]
    )
    if not claimed:
        return None
    return Claim(user_id=int(claimed[0]), generation_id=uuid.UUID(claimed[1].decode()))


def dispatch_renew(claim: Claim, *, lease_seconds: float) -> None:
    key = f"{_prefix()}running:{claim.user_id}"
    client = redis_client()
    expires = int((float(client.time()[0]) + lease_seconds) * 1000)
    pipe = client.pipeline()
    pipe.zadd(key, {str(claim.generation_id): expires})
    pipe.pexpire(key, int(lease_seconds * 2000))
    pipe.execute()


def dispatch_release(claim: Claim) -> None:
    """The job ended: its place in the account's share is free."""
    redis_client().zrem(f"{_prefix()}running:{claim.user_id}", str(claim.generation_id))


def dispatch_wait(*, seconds: float) -> bool:
    """Waits up to `seconds` for new work to be queued, as the one waiting worker (another worker
    already waiting makes this return False at once, so the others stay free for Celery's other
    tasks). True if work came: a claim may find it (or another worker may have been quicker)."""
    prefix = _prefix()
    client = redis_client()
    me = uuid.uuid4().hex
    if not client.set(f"{prefix}waiting", me, nx=True, ex=int(seconds) + 5):
        return False
    try:
        return client.blpop([f"{prefix}wake"], timeout=seconds) is not None
    finally:
        if client.get(f"{prefix}waiting") == me.encode():
            client.delete(f"{prefix}waiting")


def dispatch_claimable() -> int:
    """How many queued generations workers could claim now."""
    prefix = _prefix()
    return int(_script(_CLAIMABLE)(keys=[f"{prefix}accounts"], args=[prefix, _share()]))
