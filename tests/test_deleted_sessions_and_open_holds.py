"""Issue 12, the review of the merged fixes: what the five parts missed where they meet.

The sockets here are the web's own ASGI application, in this process, on the run's Redis channel
layer (as tests/test_session_websocket.py); the generation "under way" is a row a worker would be running,
with no worker started, so it stays under way for as long as the test looks.
"""

import asyncio
from io import StringIO

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from config.asgi import application
from studio.models import Generation, Session
from studio.services import generation_create, session_create, session_delete


def _cookie_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    return [(b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()), (b"origin", b"http://127.0.0.1")]


def _running(user, session: Session, voice) -> Generation:
    """A generation a worker has started and not finished."""
    return Generation.objects.create(
        user=user,
        session=session,
        voice=voice,
        voice_name=voice.speaker_name,
        text="Still speaking.",
        status=Generation.Status.RUNNING,
        started_at=timezone.now(),
    )


def test_deleting_a_session_with_work_under_way_closes_its_sockets_at_once(transactional_db, user, builtin_voices):
    """The owner deletes a session while a generation in it is running. The session is gone from
    every page at once, so its open sockets close at once too, with the code the page explains as
    "no longer available" (4404), not only once the running work has ended and its row is removed
    (which may take a chunk, or a sweep if its worker died)."""
    session = session_create(owner=user)
    generation = _running(user, session, builtin_voices["EN-MALE-1-NEUTRAL"])
    headers = _cookie_headers(user)

    async def scenario() -> dict:
        communicator = WebsocketCommunicator(application, f"/ws/studio/sessions/{session.id}/", headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        await database_sync_to_async(session_delete)(session=session)
        try:
            heard = await communicator.receive_output(timeout=30)
        except TimeoutError:  # the communicator has stopped the application
            return {"type": "still open after 30 s"}
        await communicator.disconnect()
        return heard

    heard = asyncio.run(scenario())
    assert heard == {"type": "websocket.close", "code": 4404}
    assert Generation.objects.filter(id=generation.id, status=Generation.Status.RUNNING).exists(), "still under way"


def test_credits_check_finds_a_finished_generation_whose_hold_is_still_open(user, builtin_voices):
    """Guards the check's reading of "finished" (billing no longer imports studio for it): a
    generation that ended with its hold left open is reported."""
    generation = generation_create(
        user=user, session=session_create(owner=user), text="Hold on.", voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id
    )
    call_command("credits", "check", stdout=StringIO())
    Generation.objects.filter(id=generation.id).update(status=Generation.Status.DONE, finished_at=timezone.now())
    problems = StringIO()
    with pytest.raises(CommandError, match="1 problems"):
        call_command("credits", "check", stdout=StringIO(), stderr=problems)
    assert f"generation {generation.id} has ended but still holds" in problems.getvalue()
