import time

from studio.models import Generation


def generation_wait_finished(generation_id, timeout: float = 180.0) -> Generation:
    """Polls the database until the worker has ended the generation, as the page's catch-up would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        generation = Generation.objects.get(id=generation_id)
        if generation.is_finished:
            return generation
        time.sleep(0.2)
    raise AssertionError(f"generation {generation_id} still {generation.status} after {timeout:.0f} s")


def wait_for(condition, timeout: float = 60.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"{what} not met in {timeout:.0f} s")
