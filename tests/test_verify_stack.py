"""Verified takes through the real stack (the Studio's service and views, the API, a Celery worker,
the real engine hearing each chunk back with pocketsphinx): what the generation records, what the
feed, the websocket and the API show, and that a respoken chunk is paid for once."""

import asyncio

import httpx
import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from accounts.services import token_create
from billing.pricing import speech_cost
from config.asgi import application
from core.audio import BYTES_PER_SECOND
from engine.client import Verified
from studio.job.run import _verification
from studio.models import Generation
from studio.services import generation_create, session_create
from tests.audio_checks import transcribe, wav_info, wav_to_array, word_error_rate
from tests.waiting import generation_wait_finished

pytestmark = pytest.mark.stack

# Heard well from both voices (tests/test_api_stack.py): two chunks.
GOOD = "We will meet at the station at noon and take the train to the city. Please call me back when you have a moment."
# A tongue twister EN-FEMALE-1-NEUTRAL (Kokoro: no noise, the same every time) says as other words at
# its speed and at the retake's (tests/engine/test_verify.py): the check fails, even after the retake.
BAD = "Irish wristwatch, Swiss wristwatch."
BAD_VOICE = "EN-FEMALE-1-NEUTRAL"


def _pcm_bytes(generation: Generation) -> int:
    x, _ = wav_to_array(generation.audio.read())
    return x.size * 2


@pytest.mark.parametrize("voice_name", ["EN-MALE-1-NEUTRAL", "EN-FEMALE-1-NEUTRAL"])
def test_a_verified_take_records_its_checked_chunks_and_passes(stack, user, builtin_voices, voice_name):
    session = session_create(owner=user)
    generation = generation_create(
        user=user, session=session, text=GOOD, voice_id=builtin_voices[voice_name].id, verify=True
    )
    generation = generation_wait_finished(generation.id)
    assert generation.status == Generation.Status.DONE, generation.error
    check = generation.verification
    chunks = 3 if voice_name == "EN-MALE-1-NEUTRAL" else 2  # Joe says the first sentence as a phrase and its rest
    assert check["status"] == "passed" and check["checked"] == chunks == generation.chunks
    assert check["failed"] == [] and check["unchecked"] == 0
    assert [c["chunk"] for c in check["chunks"]] == list(range(1, chunks + 1))
    assert all(c["passed"] and 0 <= c["word_error"] <= 0.5 for c in check["chunks"])
    wav = generation.audio.read()
    assert word_error_rate(GOOD, transcribe(wav)) <= 0.35
    assert generation.seconds == pytest.approx(wav_info(wav)[3], abs=0.01)


def test_a_take_that_still_fails_is_marked_on_the_feed_and_paid_once(stack, user, builtin_voices):
    session = session_create(owner=user)
    client = Client()
    client.force_login(user)
    voice = builtin_voices[BAD_VOICE]
    # The Studio's composer: verify is on unless the box is unticked.
    response = client.post(
        f"/studio/sessions/{session.id}/generations",
        data={"text": BAD, "voice_id": str(voice.id)},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    generation_id = response.json()["generation"]["id"]
    generation = generation_wait_finished(generation_id)
    assert generation.status == Generation.Status.DONE, generation.error
    assert generation.verify
    check = generation.verification
    assert (check["status"], check["failed"], check["respoken"], check["checked"]) == ("failed", [1], 1, 1)
    assert check["chunks"][0]["respoken"] and check["chunks"][0]["word_error"] > 0.5
    # Billed for the audio delivered: one take of the chunk, not the two spoken.
    pcm_bytes = _pcm_bytes(generation)
    assert generation.cost == speech_cost(pcm_bytes)
    assert generation.seconds == pytest.approx(pcm_bytes / BYTES_PER_SECOND, abs=0.01) and generation.seconds < 8
    # The feed's JSON (what the page renders its "some words may be wrong" badge from).
    feed = client.get(f"/studio/sessions/{session.id}/generations").json()["generations"]
    assert feed[0]["verification"]["status"] == "failed" and feed[0]["verification"]["failed"] == [1]
    page = client.get(f"/studio/sessions/{session.id}/")
    assert b'id="composer-verify"' in page.content and b"checked" in page.content


def test_the_failed_mark_arrives_live_over_the_websocket(stack, user, builtin_voices):
    session = session_create(owner=user)
    web = Client()
    web.force_login(user)
    headers = [(b"cookie", f"sessionid={web.cookies['sessionid'].value}".encode()), (b"origin", b"http://127.0.0.1")]

    async def scenario() -> list[dict]:
        communicator = WebsocketCommunicator(application, f"/ws/studio/sessions/{session.id}/", headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        await database_sync_to_async(generation_create)(
            user=user, session=session, text=BAD, voice_id=builtin_voices[BAD_VOICE].id, verify=True
        )
        states = []
        while not states or states[-1]["status"] not in {"done", "failed"}:
            states.append((await communicator.receive_json_from(timeout=120))["generation"])
        await communicator.disconnect()
        return states

    states = asyncio.run(scenario())
    assert states[-1]["status"] == "done"
    assert states[-1]["verification"]["status"] == "failed"
    assert states[0]["verification"] is None  # nothing checked yet while queued


def test_without_verify_nothing_is_checked(stack, user, builtin_voices):
    session = session_create(owner=user)
    client = Client()
    client.force_login(user)
    response = client.post(
        f"/studio/sessions/{session.id}/generations",
        data={"text": BAD, "voice_id": str(builtin_voices["EN-MALE-1-NEUTRAL"].id), "verify": False},
        content_type="application/json",
    )
    generation = generation_wait_finished(response.json()["generation"]["id"])
    assert generation.status == Generation.Status.DONE
    assert not generation.verify and generation.verification is None
    assert client.get(f"/studio/sessions/{session.id}/generations").json()["generations"][0]["verification"] is None


@pytest.fixture
def api(transactional_db, web_url, user, builtin_voices):
    _, secret = token_create(user=user, name="verify tests")
    with httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {secret}"}, timeout=120) as client:
        yield client


def _speech(builtin_voices, text: str, **extra) -> dict:
    voice_id = str(builtin_voices[BAD_VOICE].id)
    return {"text": text, "voice_id": voice_id, "model_name": "outetts_1_pro", **extra}


def test_the_api_verifies_only_when_asked_and_says_what_it_found(api, builtin_voices):
    asked = api.post("/api/v1/tts_non_stream", json=_speech(builtin_voices, BAD, verify=True))
    assert asked.status_code == 200, asked.text
    assert asked.headers["X-Verification"] == "failed; checked=1; respoken=1; failed=1"
    generation = Generation.objects.get()
    assert generation.verification["status"] == "failed"
    assert generation.cost == speech_cost(len(asked.content) - 44)  # the WAV delivered, header aside

    plain = api.post("/api/v1/tts_non_stream", json=_speech(builtin_voices, GOOD))
    assert plain.status_code == 200 and "X-Verification" not in plain.headers

    refused = api.post("/api/v1/tts_non_stream", json=_speech(builtin_voices, GOOD, verify="yes"))
    assert refused.status_code == 400 and refused.json()["code"] == "VALIDATION_ERROR"


def test_the_sdk_asks_for_a_verified_take_and_reads_what_the_check_found(
    transactional_db, web_url, user, builtin_voices
):
    from outeai import OuteAI

    _, secret = token_create(user=user, name="sdk verify")
    voice_id = str(builtin_voices[BAD_VOICE].id)
    with OuteAI(secret, base_url=web_url, timeout=120) as sdk:
        checked = sdk.generate_speech(text=BAD, voice_id=voice_id, verify=True)
        plain = sdk.generate_speech(text=BAD, voice_id=voice_id)
    assert checked.verification == "failed; checked=1; respoken=1; failed=1"
    assert checked.sample_rate == 24000 and wav_info(checked.wav_bytes)[3] > 0.5
    assert plain.verification is None
    assert [g.verify for g in Generation.objects.order_by("created_at")] == [True, False]


def test_a_short_chunk_left_unchecked_by_a_failover_is_recorded_unchecked():
    """A short chunk's check comes with the next chunk's; when another engine spoke that next
    chunk (a failover), the kept chunk has none and is recorded as not checked, not dropped."""
    checks = {1: Verified(1, True, 0.1, False, True), 3: Verified(3, True, 0.0, False, True)}
    recorded = _verification(checks, upto=3)
    assert [c["chunk"] for c in recorded["chunks"]] == [1, 2, 3]
    assert (recorded["status"], recorded["checked"], recorded["unchecked"]) == ("passed", 2, 1)
    # While chunk 2 waits for chunk 3's check, only what has come is recorded.
    assert [c["chunk"] for c in _verification({1: checks[1]}, upto=2)["chunks"]] == [1]
