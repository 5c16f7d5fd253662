"""The sweep (Celery beat, every 10 s): gives back the jobs whose worker died, ends those no
worker took in time, carries deletions through, and says how many bells are worth ringing."""

import logging
from datetime import timedelta

from django.db.models import Q
from django.utils import timezone

from studio.job.claim import jobs_claimable
from studio.job.end import deletions_complete, job_end
from studio.job.run import HEARTBEAT_STALE
from studio.models import Generation
from studio.relay import RelayWriter

logger = logging.getLogger(__name__)

QUEUED_GIVE_UP_AFTER = timedelta(minutes=30)
# The most bells one sweep rings; each worker's turn goes on while work may run, so a few suffice.
SWEEP_BELLS_MAX = 16


def generations_sweep() -> dict[str, int]:
    """Gives back to the queue the running generations silent for HEARTBEAT_STALE (their worker
    died: the next claim takes them before their account's new work and goes on where they were),
    ends those queued for QUEUED_GIVE_UP_AFTER, their holds settled, and counts the bells to ring
    for what may run (a bell lost with a Celery message is rung again here)."""
    now = timezone.now()
    stale = Generation.objects.filter(
        Q(heartbeat_at__lt=now - HEARTBEAT_STALE) | Q(heartbeat_at__isnull=True), status=Generation.Status.RUNNING
    )
    counts = {"given_back": stale.update(status=Generation.Status.QUEUED, worker=""), "given_up": 0}
    waiting = Generation.objects.filter(status=Generation.Status.QUEUED, created_at__lt=now - QUEUED_GIVE_UP_AFTER)
    for generation in waiting:
        failure = ("TTS_PROVIDER_UNAVAILABLE", "No worker could take this generation. Please try again.")
        job_end(generation, RelayWriter(generation.id), b"", failure=failure)
        counts["given_up"] += 1
    deletions_complete()
    counts["bells"] = min(jobs_claimable(), SWEEP_BELLS_MAX)
    if counts["given_back"] or counts["given_up"]:
        logger.warning("sweep: %(given_back)d jobs given back (worker died), %(given_up)d given up", counts)
    return counts
