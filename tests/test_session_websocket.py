"""The Studio's websocket: who may join a session's group, and what the page hears of a generation."""

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from config.asgi import application
from studio.services import generation_create, session_create

pytestmark = pytest.mark.stack


def _cookie_headers(user) -> list[tuple[bytes, bytes]]:
    client = Client()
    client.force_login(user)
    session_key = client.cookies["sessionid"].value
    return [(b"cookie", f"sessionid={session_key}".encode()), (b"origin", b"http://127.0.0.1")]


async def _connect(headers, session_id) -> tuple[WebsocketCommunicator, bool]:
    communicator = WebsocketCommunicator(application, f"/ws/studio/sessions/{session_id}/", headers=headers)
    connected, _ = await communicator.connect()
    return communicator, connected


def test_owner_hears_progress_peaks_and_the_final_state(stack, user, builtin_voices):
    session = session_create(owner=user)
    headers = _cookie_headers(user)
    text = "Websockets carry the progress. The waveform grows as audio arrives."

    async def scenario() -> list[dict]:
        communicator = WebsocketCommunicator(application, f"/ws/studio/sessions/{session.id}/", headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        await database_sync_to_async(generation_create)(
            user=user, session=session, text=text, voice_id=builtin_voices["EN-FEMALE-1-NEUTRAL"].id
        )
        events = []
        while True:
            event = await communicator.receive_json_from(timeout=120)
            events.append(event)
            if event["generation"]["status"] in {"done", "failed"}:
                break
        await communicator.disconnect()
        return events

    events = asyncio.run(scenario())
    states = [event["generation"] for event in events]
    assert all(event["type"] == "generation.update" for event in events)
    assert states[0]["status"] == "queued"
    generating = [s for s in states if s["status"] == "running" and s["stage"] == "generating"]
    assert {s["chunks"] for s in generating} == {2}
    assert sorted({s["chunk"] for s in generating}) == [1, 2]
    # Partial peaks arrive while running, each placed where the last left off.
    live_peaks = [event for event in events if event.get("peaks")]
    assert live_peaks, "no waveform peaks arrived while generating"
    offsets = [event["peaks_offset"] for event in live_peaks]
    assert offsets == sorted(offsets) and offsets[0] == 0
    final = states[-1]
    assert final["status"] == "done", final["error"]
    assert final["audio_url"].endswith("/audio") and final["seconds"] > 2
    streamed = [peak for event in live_peaks for peak in event["peaks"]]
    assert final["peaks"][: len(streamed)] == streamed


def test_other_users_and_anonymous_cannot_join_a_session(transactional_db, user, other_user):
    session = session_create(owner=user)
    anonymous = [(b"origin", b"http://127.0.0.1")]
    callers = {"other": _cookie_headers(other_user), "anonymous": anonymous, "owner": _cookie_headers(user)}

    async def scenario():
        results = {}
        for name, headers in callers.items():
            communicator, connected = await _connect(headers, session.id)
            results[name] = connected
            if connected:
                await communicator.disconnect()
        return results

    assert asyncio.run(scenario()) == {"other": False, "anonymous": False, "owner": True}


def test_a_foreign_origin_cannot_open_the_socket(transactional_db, user):
    session = session_create(owner=user)
    headers = [h for h in _cookie_headers(user) if h[0] != b"origin"] + [(b"origin", b"https://evil.example")]

    async def scenario() -> bool:
        communicator = WebsocketCommunicator(application, f"/ws/studio/sessions/{session.id}/", headers=headers)
        connected, _ = await communicator.connect()
        return connected

    assert asyncio.run(scenario()) is False
