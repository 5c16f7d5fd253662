"""A generation's end: what it produced stored, its hold settled, the relay and the pages told; a
stop asked for (cancel, delete); and deletions carried through once work has ended."""

import logging
import uuid

from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from billing.models import Hold
from billing.pricing import speech_cost
from billing.services import hold_settle, wallet_broadcast_on_commit
from core.audio import pcm_seconds, wav_from_pcm
from studio.events import generation_broadcast_on_commit
from studio.models import Generation, Session
from studio.relay import RelayWriter, relay_cancel_request

logger = logging.getLogger(__name__)


def job_end(
    generation: Generation,
    relay: RelayWriter,
    pcm: bytes,
    *,
    failure: tuple[str, str] | None = None,
    cancelled: bool = False,
    worker: str | None = None,
) -> None:
    """Stores what was produced (also the part before a failure or a cancel, which the caller has
    heard and pays for), settles the hold, and tells the page and the API stream. With `worker`,
    only if that worker still holds the row (one the sweep gave back to another ends there)."""
    if failure:
        generation.status = Generation.Status.FAILED
        generation.error_code, generation.error = failure[0], failure[1][:300]
    else:
        generation.status = Generation.Status.CANCELLED if cancelled else Generation.Status.DONE
    # A whole-file delivery (tts_non_stream, legacy) that did not finish delivered nothing: it keeps
    # no audio and costs nothing.
    if generation.status != Generation.Status.DONE and generation.delivery == Generation.Delivery.WHOLE:
        pcm = b""
    if pcm:
        wav = ContentFile(wav_from_pcm(pcm))
        generation.audio.save(f"{generation.user_id}/{generation.id}.wav", wav, save=False)
    generation.seconds = pcm_seconds(len(pcm))
    generation.stage = Generation.Stage.NONE
    generation.finished_at = timezone.now()
    with transaction.atomic():
        # Locked: a delete either came first (the generation goes once this commits) or waits for it.
        row = _row_lock(generation.id)
        if row is None:  # removed under the job by something that bypassed the services: nothing to keep
            logger.warning("generation %s: its row is gone; its audio is discarded", generation.id)
            generation.audio.delete(save=False)
            return
        if worker is not None and (row[1] != worker or row[2] != Generation.Status.RUNNING):
            logger.warning("generation %s: taken over by %s; this worker's end is discarded", generation.id, row[1])
            return
        generation.deleted_at = row[0]
        generation.cost = hold_settle(generation=generation, cost=speech_cost(len(pcm)))
        generation.worker = ""
        generation.save(
            update_fields=[
                "audio",
                "peaks",
                "seconds",
                "cost",
                "status",
                "stage",
                "error_code",
                "error",
                "finished_at",
                "verification",
                "worker",
            ]
        )
        # The API's caller waits for the end; the pages' broadcasts can come after it.
        end = end_data(generation)
        transaction.on_commit(lambda: relay.end(end))
        generation_broadcast_on_commit(generation)
        wallet_broadcast_on_commit(generation.user_id)
    if generation.deleted_at is not None:
        deletions_complete(generation_ids=[generation.id])


# On PostgreSQL the lock's statement also makes the end's commit return before it is flushed to
# disk (set_config(..., true) is SET LOCAL; the flush takes ~3 ms here and comes a moment later, or
# with the next synchronous commit: the account's next hold). The commit is visible at once, so the
# caller's next request finds the hold settled. Only a crash of PostgreSQL within that moment can
# lose it, and then whole: the row is still running and its hold still held, and the sweep gives
# the job back, to be ended (and charged) once by the worker that takes it.
_ROW_LOCK_SQL = """
SELECT deleted_at, worker, status, set_config('synchronous_commit', 'off', true)
FROM {table} WHERE id = %s FOR UPDATE
"""


def _row_lock(generation_id: uuid.UUID) -> tuple | None:
    """The generation's deleted_at, worker and status, its row locked until the transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_ROW_LOCK_SQL.format(table=Generation._meta.db_table), [generation_id])
            row = cursor.fetchone()
        return row[:3] if row else None
    return (
        Generation.objects.select_for_update()
        .filter(id=generation_id)
        .values_list("deleted_at", "worker", "status")
        .first()
    )


def job_stop(*, generation_id: uuid.UUID) -> None:
    """Stops a generation: one still queued ends at once, settled at 0, and never starts; a running
    one is asked to stop at its next chunk and keeps what it produced."""
    with transaction.atomic():
        queued = Generation.objects.select_for_update().filter(id=generation_id, status=Generation.Status.QUEUED)
        generation = queued.first()
        if generation is not None:
            generation.status = Generation.Status.CANCELLED
            generation.finished_at = timezone.now()
            generation.save(update_fields=["status", "finished_at"])
            hold_settle(generation=generation, cost=0)
            generation_broadcast_on_commit(generation)
            RelayWriter(generation.id).end(end_data(generation))
            return
    relay_cancel_request(generation_id)


def end_data(generation: Generation) -> dict:
    """The relay's end record, which the API's streams read."""
    return {
        "status": generation.status,
        "seconds": generation.seconds,
        "error_code": generation.error_code,
        "error": generation.error,
        "cost": generation.cost,
        "verification": _verification_public(generation.verification),
    }


def _verification_public(verification: dict | None) -> dict | None:
    """The check without its per-chunk detail (for the API's callers)."""
    if verification is None:
        return None
    return {key: value for key, value in verification.items() if key != "chunks"}


def deletions_complete(*, generation_ids: list[uuid.UUID] | None = None) -> int:
    """Carries deletions through: stops the deleted generations still under way (a queued one ends
    at once, settled at 0; a running one stops at its next chunk), removes those that have ended and
    settled, with their audio, then the deleted sessions left empty. Returns how many it removed.
    A job's end runs it for its own generation; the sweep runs it for all."""
    deleted = Generation.objects.filter(deleted_at__isnull=False)
    if generation_ids is not None:
        deleted = deleted.filter(id__in=generation_ids)
    for generation_id in deleted.exclude(status__in=Generation.FINISHED).values_list("id", flat=True):
        job_stop(generation_id=generation_id)
    settled = deleted.filter(status__in=Generation.FINISHED).exclude(
        Exists(Hold.objects.filter(generation=OuterRef("pk"), settled_at__isnull=True))
    )
    removed = 0
    with transaction.atomic():
        # A row locked by a job that is ending it is skipped: that job calls this once it has ended.
        # Their audio goes once the rows are gone (studio.signals).
        for generation in settled.select_for_update(skip_locked=True).only("id", "audio"):
            generation.delete()
            removed += 1
        Session.objects.filter(deleted_at__isnull=False, generations__isnull=True).delete()
    return removed
