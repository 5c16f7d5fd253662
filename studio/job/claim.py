"""The fair claim, made from the rows: the table is the queue.

A free worker takes the oldest queued generation (one given back after its worker died first) of
the account served longest ago that runs fewer than its share (GENERATION_ACCOUNT_CONCURRENCY).
The claim is one transaction: the account's turn row (`AccountTurn`) is locked, with
`FOR UPDATE SKIP LOCKED` on PostgreSQL (an account another worker is claiming for is passed over,
and waited for only when every candidate is), so its running count, read after the lock, is exact and two workers never
start the same account's work beyond its share; the generation moves from queued to running by a
conditional UPDATE (a cancel that came first wins). On SQLite, which has one writer at a time, the
transaction takes the write lock first, so claims run one after another.

A Celery message is only a bell saying "there is work" (studio.tasks); a bell that finds nothing
does nothing, and a bell rung twice costs one empty claim.
"""

import os
import socket
import uuid

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from studio.models import AccountTurn, Generation
from voices.models import Voice

# Accounts one claim tries (each at its share by the time it was locked) before it gives up; the
# candidates are chosen under their share already, so more than one is rare.
CLAIM_ACCOUNTS_MAX = 8


def worker_name() -> str:
    """Who runs a job, as its row records it: the process (a Celery pool process forks, so it is
    read each time)."""
    return f"{socket.gethostname()}:{os.getpid()}"


def account_turn_open(*, user_id: int) -> None:
    """The account's place in the turns, made once (at its first generation); never served yet, it
    goes first."""
    AccountTurn.objects.bulk_create([AccountTurn(user_id=user_id)], ignore_conflicts=True)


def _running_count() -> Coalesce:
    running = (
        Generation.objects.filter(user_id=OuterRef("user_id"), status=Generation.Status.RUNNING)
        .order_by()
        .values("user_id")
        .annotate(count=Count("id"))
        .values("count")
    )
    return Coalesce(Subquery(running, output_field=IntegerField()), Value(0))


def job_claim(*, worker: str) -> Generation | None:
    """Claims the fairest queued generation for `worker` and returns its row, now running and taken
    by it (the job uses it as it is: no second read). None if nothing may run now."""
    share = settings.GENERATION_ACCOUNT_CONCURRENCY
    with transaction.atomic():
        if connection.vendor == "postgresql":
            return _job_claim_postgresql(worker=worker, share=share)
        _write_lock_on_sqlite()
        return _job_claim_orm(worker=worker, share=share)


def _job_claim_orm(*, worker: str, share: int) -> Generation | None:
    queued = Generation.objects.filter(user_id=OuterRef("user_id"), status=Generation.Status.QUEUED)
    tried: list[int] = []
    for _ in range(CLAIM_ACCOUNTS_MAX):
        # Chosen from the statement's snapshot, then locked; checked again under the lock.
        candidates = (
            AccountTurn.objects.annotate(running=_running_count())
            .filter(Exists(queued), running__lt=share)
            .exclude(user_id__in=tried)
            .order_by(F("served_at").asc(nulls_first=True), "user_id")
        )
        turn = candidates.select_for_update().first()
        if turn is None:
            return None
        claimed = _account_job_claim(user_id=turn.user_id, worker=worker, share=share)
        if claimed is not None:
            AccountTurn.objects.filter(user_id=turn.user_id).update(served_at=timezone.now())
            return Generation.objects.select_related("voice").get(id=claimed)
        tried.append(turn.user_id)
    return None


# The claim on PostgreSQL, in two statements of one transaction (the ORM's took seven round trips
# and ~5 ms of Python on the first byte's path). The first locks the turn of the account served
# longest ago that has queued work and runs under its share; an account another worker is claiming
# for is passed over (SKIP LOCKED), and waited for only when every candidate is (a claim lasts a
# millisecond; its work is not left for the sweep). The second, run after the lock so its snapshot
# sees every claim committed before, counts the account's running jobs again, takes its next one
# (given back after a worker died first, then the oldest) and marks the turn served. A job locked
# by a cancel under way is skipped; the UPDATE's own status test lets a cancel that came first win.
_TURN_SQL = """
SELECT t.user_id FROM {turns} t
WHERE EXISTS (SELECT 1 FROM {jobs} q WHERE q.user_id = t.user_id AND q.status = %(queued)s)
  AND (SELECT count(*) FROM {jobs} r WHERE r.user_id = t.user_id AND r.status = %(running)s) < %(share)s
  AND t.user_id <> ALL(%(tried)s::bigint[])
ORDER BY t.served_at ASC NULLS FIRST, t.user_id
LIMIT 1
FOR UPDATE OF t {skip}
"""
_TAKE_SQL = """
WITH job AS (
  SELECT g.id FROM {jobs} g
  WHERE g.user_id = %(user_id)s AND g.status = %(queued)s
    AND (SELECT count(*) FROM {jobs} r WHERE r.user_id = %(user_id)s AND r.status = %(running)s) < %(share)s
  ORDER BY g.attempts DESC, g.created_at
  LIMIT 1
  FOR UPDATE SKIP LOCKED
), taken AS (
  UPDATE {jobs} g SET status = %(running)s, worker = %(worker)s, claimed_at = %(now)s, heartbeat_at = %(now)s,
    started_at = COALESCE(g.started_at, %(now)s), attempts = g.attempts + 1
  FROM job WHERE g.id = job.id AND g.status = %(queued)s
  RETURNING g.*
), served AS (
  UPDATE {turns} SET served_at = %(now)s WHERE user_id = %(user_id)s AND EXISTS (SELECT 1 FROM taken)
)
SELECT taken.*, {voice_columns} FROM taken LEFT JOIN {voices} v ON v.id = taken.voice_id
"""
# The job's voice comes with its row (one statement, not a lazy read before the engine is asked),
# its columns under these names.
_VOICE_COLUMN = "voice__{}"


def _job_claim_postgresql(*, worker: str, share: int) -> Generation | None:
    voice_fields = Voice._meta.concrete_fields
    tables = {
        "turns": AccountTurn._meta.db_table,
        "jobs": Generation._meta.db_table,
        "voices": Voice._meta.db_table,
        "voice_columns": ", ".join(f'v."{f.column}" AS "{_VOICE_COLUMN.format(f.attname)}"' for f in voice_fields),
    }
    params: dict = {
        "queued": Generation.Status.QUEUED,
        "running": Generation.Status.RUNNING,
        "share": share,
        "worker": worker,
        "tried": [],
    }
    with connection.cursor() as cursor:
        for _ in range(CLAIM_ACCOUNTS_MAX):
            cursor.execute(_TURN_SQL.format(**tables, skip="SKIP LOCKED"), params)
            turn = cursor.fetchone() or _fetch_waiting(cursor, tables, params)
            if turn is None:
                return None
            # The ORM builds the row from the statement's columns (with its converters, as a read).
            take = Generation.objects.raw(
                _TAKE_SQL.format(**tables), {**params, "user_id": turn[0], "now": timezone.now()}
            )
            taken = next(iter(take), None)
            if taken is not None:
                _voice_joined(taken, voice_fields)
                return taken
            params["tried"] = [*params["tried"], turn[0]]
    return None


def _voice_joined(generation: Generation, fields) -> None:
    """Sets the generation's voice from the columns the take joined (None for a deleted voice)."""
    values = []
    for voice_field in fields:
        value = generation.__dict__.pop(_VOICE_COLUMN.format(voice_field.attname))
        for convert in voice_field.get_db_converters(connection):
            value = convert(value, None, connection)
        values.append(value)
    names = [f.attname for f in fields]
    voice = Voice.from_db(connection.alias, names, values) if values[names.index("id")] is not None else None
    Generation.voice.field.set_cached_value(generation, voice)


def _fetch_waiting(cursor, tables: dict[str, str], params: dict) -> tuple | None:
    cursor.execute(_TURN_SQL.format(**tables, skip=""), params)
    return cursor.fetchone()


def _account_job_claim(*, user_id: int, worker: str, share: int) -> uuid.UUID | None:
    """Under the account's turn lock: its next generation, if it runs fewer than its share."""
    mine = Generation.objects.filter(user_id=user_id)
    if mine.filter(status=Generation.Status.RUNNING).count() >= share:
        return None
    # Given back after its worker died (attempts > 0) goes before the account's new work.
    next_ids = mine.filter(status=Generation.Status.QUEUED).order_by("-attempts", "created_at").values_list("id")
    for (generation_id,) in next_ids[:3]:
        if generation_running_mark(generation_id=generation_id, worker=worker):
            return generation_id
    return None


def generation_running_mark(*, generation_id: uuid.UUID, worker: str) -> bool:
    """The conditional UPDATE that takes a queued generation: True if this worker took it (a
    cancel or another claim that came first leaves it as it is)."""
    now = timezone.now()
    taken = Generation.objects.filter(id=generation_id, status=Generation.Status.QUEUED).update(
        status=Generation.Status.RUNNING,
        worker=worker,
        claimed_at=now,
        heartbeat_at=now,
        started_at=Coalesce(F("started_at"), Value(now)),
        attempts=F("attempts") + 1,
    )
    return taken == 1


def _write_lock_on_sqlite() -> None:
    # SQLite would let two claims read the same counts and fail the second's write ("database is
    # locked"); a write first makes the transaction the one writer until it commits.
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("UPDATE studio_accountturn SET served_at = served_at WHERE 0")


def account_wants_worker(*, user_id: int) -> bool:
    """Whether the account's newest work may run at once (it has fewer unfinished generations than
    its share): then a bell is worth ringing. Otherwise a worker ending one of its jobs goes on
    with the next."""
    unfinished = Generation.objects.filter(
        user_id=user_id, status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING]
    ).count()
    return unfinished <= settings.GENERATION_ACCOUNT_CONCURRENCY


def jobs_claimable() -> int:
    """How many queued generations workers could claim now (each account up to its share)."""
    share = settings.GENERATION_ACCOUNT_CONCURRENCY
    per_account = (
        Generation.objects.filter(status__in=[Generation.Status.QUEUED, Generation.Status.RUNNING])
        .order_by()
        .values("user_id")
        .annotate(
            queued=Count("id", filter=Q(status=Generation.Status.QUEUED)),
            running=Count("id", filter=Q(status=Generation.Status.RUNNING)),
        )
    )
    return sum(min(max(share - row["running"], 0), row["queued"]) for row in per_account)
