"""What the pages are told of a generation and a wallet, sent once the transaction that changed
them commits (Zulip's `send_event_on_commit`): the request side and the job runtime both tell them."""

from django.db import transaction

from core.realtime import session_broadcast
from studio.models import Generation
from studio.selectors import generation_state


def generation_broadcast_on_commit(generation: Generation) -> None:
    if generation.session_id is None or generation.deleted_at is not None:
        return
    # Each socket adds what its viewer may do with it (studio.consumers), from `generated_by`.
    event = {
        "type": "generation.update",
        "generation": generation_state(generation, with_peaks=generation.is_finished),
        "generated_by": generation.user_id,
    }
    session_id = generation.session_id
    transaction.on_commit(lambda: session_broadcast(session_id, event))


def generation_deleted_broadcast_on_commit(generation: Generation) -> None:
    session_id, generation_id = generation.session_id, str(generation.id)
    if session_id:
        transaction.on_commit(
            lambda: session_broadcast(session_id, {"type": "generation.deleted", "generation_id": generation_id})
        )


def generation_progress_broadcast(generation: Generation, *, new_peaks: list[float], peaks_offset: int) -> None:
    """A running generation's progress and its new peaks (sent at once: the job holds no transaction)."""
    if generation.session_id is None:
        return
    session_broadcast(
        generation.session_id,
        {
            "type": "generation.update",
            "generation": generation_state(generation, with_peaks=False),
            "generated_by": generation.user_id,
            "peaks": new_peaks,
            "peaks_offset": peaks_offset,
        },
    )
