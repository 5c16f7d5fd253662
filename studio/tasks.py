import uuid

from celery import shared_task


@shared_task(name="studio.generation_run", bind=True, max_retries=20)
def generation_run_task(self, generation_id: str) -> None:
    from studio.services import JobBusyElsewhere, generation_run

    try:
        generation_run(generation_id=uuid.UUID(generation_id))
    except JobBusyElsewhere as busy:
        # Its worker may have just died: look again once its heartbeat would have gone stale.
        raise self.retry(countdown=busy.retry_after) from None


@shared_task(name="studio.generations_sweep")
def generations_sweep_task() -> dict[str, int]:
    from studio.services import generations_sweep

    return generations_sweep()
