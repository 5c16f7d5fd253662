"""The only place that enqueues. A generation's message is a bell ("there is work"): the worker
that hears it claims whatever is fairest from the rows (studio.job.claim)."""

from celery import shared_task
from django.conf import settings
from django.db import transaction


@shared_task(
    name="studio.generations_dispatch",
    soft_time_limit=settings.GENERATION_TASK_SOFT_TIME_LIMIT,
    time_limit=settings.GENERATION_TASK_SOFT_TIME_LIMIT + 30,
)
def generations_dispatch_task() -> None:
    from studio.job.run import generations_dispatch

    if generations_dispatch().more:  # the turn is over, the work is not: a fresh task goes on with it
        generations_dispatch_task.delay()


@shared_task(name="studio.generations_sweep", soft_time_limit=60, time_limit=90)
def generations_sweep_task() -> dict[str, int]:
    from studio.job.sweep import generations_sweep

    counts = generations_sweep()
    for _ in range(counts["bells"]):
        generations_dispatch_task.delay()
    return counts


def generations_bell_on_commit(*, user_id: int) -> None:
    """Once the new generation is committed, rings for a worker if the account may run it now."""

    def ring() -> None:
        from studio.job.claim import account_wants_worker
        from studio.job.wake import workers_wake

        # A worker waiting for work looks at the rows at once (if the account is at its share, it
        # finds nothing: one empty claim); the bell, rung only when the account may run it, reaches
        # a worker that is not waiting.
        workers_wake()
        if account_wants_worker(user_id=user_id):
            generations_dispatch_task.delay()

    transaction.on_commit(ring)
