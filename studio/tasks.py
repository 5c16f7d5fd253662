from celery import shared_task


@shared_task(name="studio.generations_dispatch")
def generations_dispatch_task() -> None:
    """A token: a worker is wanted for queued generations; which ones is decided fairly when it runs."""
    from studio.services import generations_dispatch

    generations_dispatch()


@shared_task(name="studio.generations_sweep")
def generations_sweep_task() -> dict[str, int]:
    from studio.services import generations_sweep

    return generations_sweep()
