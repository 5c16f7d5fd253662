"""Voice clones through the running stack: the API and the page, the engine's encoder, billing,
and who may see, use or delete a clone."""

import base64

import httpx
import pytest
from django.test import Client

from accounts.services import token_create
from billing.models import LedgerEntry
from billing.selectors import ledger_sum, wallet_for
from studio.models import Generation
from tests.audio_checks import median_f0, transcribe, wav_info, word_error_rate
from tests.reference_clips import clip, noise, to_mp3, to_wav
from tests.waiting import wait_for
from voices.models import Voice

pytestmark = pytest.mark.stack

NEW_TEXT = "We will meet at the station at noon and take the train to the city."


@pytest.fixture
def api(transactional_db, web_url, user, builtin_voices):
    _, secret = token_create(user=user, name="clones")
    with httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {secret}"}, timeout=180) as client:
        yield client


def create(api, name: str, audio: bytes, filename: str = "voice.wav") -> httpx.Response:
    return api.post("/api/v1/voice-clones", data={"speaker_name": name}, files={"audio": (filename, audio)})


def test_clone_from_a_recording_speaks_new_text_in_that_direction(api, user):
    response = create(api, "Stella", to_wav(*clip("slt", 8)))
    assert response.status_code == 201, response.text
    data = response.json()["data"]
    assert data["speaker_name"] == data["name"] == "Stella" and data["voice_id"] and data["created_at"]
    assert data["speech_seconds"] > 6 and data["warnings"] == []

    # Usable at once, in the voice list and for speech.
    voices = api.get("/api/v1/voices").json()["data"]["voices"]
    assert {"voice_id": data["voice_id"], "speaker_name": "Stella", "is_clone": True}.items() <= next(
        v for v in voices if v["voice_id"] == data["voice_id"]
    ).items()
    speech = api.post(
        "/api/v1/tts_non_stream", json={"text": NEW_TEXT, "voice_id": data["voice_id"], "model_name": "outetts_1_pro"}
    )
    assert speech.status_code == 200
    assert wav_info(speech.content)[:3] == (24_000, 1, 2)
    assert word_error_rate(NEW_TEXT, transcribe(speech.content)) <= 0.4
    reference_f0 = median_f0(to_wav(*clip("slt", 8)))
    assert abs(median_f0(speech.content) - reference_f0) < 0.2 * reference_f0

    # Billed once, 0.025 credits, through the ledger; the reference itself is not kept.
    entry = LedgerEntry.objects.get(user=user, kind="clone")
    assert entry.amount == -25_000 and str(entry.voice_id) == data["voice_id"]
    assert wallet_for(user).balance == ledger_sum(user)
    voice = Voice.objects.get(id=data["voice_id"])
    assert voice.profile["version"] == 1 and not voice.reference
    # It speaks with the engine's Kokoro quick profile (natural, where WORLD's buzzes), as a woman.
    assert voice.profile["kind"] == "kokoro" and voice.gender == "female"
    # The preview is recorded by a worker after the clone is created.
    wait_for(lambda: Voice.objects.get(id=voice.id).preview, what="the clone's preview")


def test_json_base64_mp3_and_the_tutorials_name_field(api):
    mp3 = to_mp3(*clip("kal", 8))
    response = api.post(
        "/api/v1/voice-clones", json={"speaker_name": "Kal", "audio_base64": base64.b64encode(mp3).decode()}
    )
    assert response.status_code == 201, response.text
    response = api.post("/api/v1/voice-clones", data={"name": "Kal two"}, files={"audio": ("kal.mp3", mp3)})
    assert response.status_code == 201, response.text
    listed = api.get("/api/v1/voice-clones").json()["data"]
    assert {c["speaker_name"] for c in listed["voice_clones"]} == {"Kal", "Kal two"}
    assert {c["name"] for c in listed["voice_clones"]} == {"Kal", "Kal two"}
    assert listed["quota"] == {"used": 2, "limit": 1000}


def test_bad_recordings_are_refused_with_a_reason_and_cost_nothing(api, user):
    good = to_wav(*clip("slt", 7))
    cases = [
        ("Noise", to_wav(noise(7), 24_000), "speech"),
        ("Short", to_wav(*clip("slt", 3)), "5–10 seconds"),
        ("Text", b"just text, named .wav", "not WAV or MP3"),
        ("X", good, "2 to 80"),
        ("N" * 81, good, "2 to 80"),
    ]
    for name, audio, words in cases:
        response = create(api, name, audio)
        assert response.status_code == 400, (name, response.text)
        assert response.json()["code"] == "VALIDATION_ERROR" and words in response.json()["message"], name
    response = api.post("/api/v1/voice-clones", json={"speaker_name": "No audio"})
    assert response.status_code == 400
    assert not Voice.objects.filter(kind="clone").exists()
    assert not LedgerEntry.objects.filter(kind="clone").exists() and wallet_for(user).balance == 1_000_000


def test_an_oversized_body_is_refused_before_it_is_read(web_url, api):
    """The server answers from the headers; the 50 MB it was promised are never sent."""
    import socket

    with socket.create_connection(("127.0.0.1", int(web_url.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/voice-clones HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: {api.headers['Authorization']}\r\n".encode()
            + b"Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 52428800\r\n\r\n--x\r\n"
        )
        answer = b""
        while chunk := sock.recv(4096):  # the server answers, then closes
            answer += chunk
        answer = answer.decode()
    assert answer.startswith("HTTP/1.1 413") and "PAYLOAD_TOO_LARGE" in answer
    too_big = create(api, "Big", b"RIFF" + bytes(11 * 1024 * 1024))
    assert too_big.status_code == 413


def test_not_enough_credits_for_a_clone_is_402(api, user):
    from billing.services import credits_admin_change

    credits_admin_change(user=user, amount=-990_000, actor=None, reason="leave 0.01")
    response = create(api, "Dear", to_wav(*clip("slt", 7)))
    assert response.status_code == 402 and response.json()["code"] == "INSUFFICIENT_CREDITS"
    assert not Voice.objects.filter(kind="clone").exists()


def test_others_can_neither_see_use_nor_delete_a_clone(api, web_url, other_user):
    voice_id = create(api, "Mine", to_wav(*clip("kal", 7))).json()["data"]["voice_id"]
    _, other_secret = token_create(user=other_user, name="other")
    other = httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {other_secret}"}, timeout=60)
    assert voice_id not in other.get("/api/v1/voices").text
    assert other.get("/api/v1/voice-clones").json()["data"]["voice_clones"] == []
    refused = other.post("/api/v1/tts_stream", json={"text": "Hi", "voice_id": voice_id, "model_name": "outetts_1_pro"})
    assert refused.status_code == 404
    assert other.delete(f"/api/v1/voice-clones/{voice_id}").status_code == 404
    page = Client()
    page.force_login(other_user)
    assert page.get(f"/studio/voices/{voice_id}/preview").status_code == 404
    assert page.post(f"/studio/voices/{voice_id}/delete").status_code == 404
    assert Voice.objects.filter(id=voice_id).exists()


def test_deleting_a_clone_keeps_past_audio_and_its_name(api):
    voice_id = create(api, "Brief", to_wav(*clip("slt", 7))).json()["data"]["voice_id"]
    done = api.post("/api/v1/tts_non_stream", json={"text": "Goodbye.", "voice": voice_id, "model": "outetts_1_pro"})
    assert done.status_code == 200
    assert api.delete(f"/api/v1/voice-clones/{voice_id}").json()["data"]["deleted"] is True
    assert api.delete(f"/api/v1/voice-clones/{voice_id}").status_code == 404
    gone = api.post("/api/v1/tts_stream", json={"text": "Hello?", "voice_id": voice_id, "model_name": "outetts_1_pro"})
    assert gone.status_code == 404
    generation = Generation.objects.get()
    assert generation.voice is None and generation.voice_name == "Brief" and generation.audio


def test_legacy_api_finds_a_clone_by_name(api, web_url, user):
    create(api, "legacy clone", to_wav(*clip("kal", 7)))
    _, secret = token_create(user=user, name="legacy")
    body = {"token": secret, "text": "Hello there.", "speaker": {"custom": "legacy clone"}}
    response = httpx.post(f"{web_url}/api/v1/tts", json=body, timeout=120)
    assert response.status_code == 200 and '"request_finished": true' in response.text


def test_voice_clone_page_creates_lists_previews_and_deletes(
    transactional_db, web_url, engine_url, user, builtin_voices, settings
):
    settings.ENGINE_URLS = [engine_url]  # the page runs in this process, and calls the stack's engine
    page = Client()
    page.force_login(user)
    wav = to_wav(*clip("slt", 7))
    from django.core.files.uploadedfile import SimpleUploadedFile

    refused = page.post("/studio/voices/new", {"speaker_name": "Page voice", "audio": SimpleUploadedFile("v.wav", wav)})
    assert refused.status_code == 400 and "permission" in refused.content.decode()
    made = page.post(
        "/studio/voices/new",
        {"speaker_name": "Page voice", "consent": "on", "audio": SimpleUploadedFile("v.wav", wav)},
        follow=True,
    )
    assert made.status_code == 200 and "is ready" in made.content.decode()
    voice = Voice.objects.get(kind="clone")
    # A worker records the preview after the clone is made; until then the page is told to wait.
    wait_for(lambda: page.get(f"/studio/voices/{voice.id}/preview").status_code == 200, what="the preview")
    preview = page.get(f"/studio/voices/{voice.id}/preview")
    assert preview.status_code == 200 and wav_info(b"".join(preview.streaming_content))[3] > 1
    studio = page.get("/studio/", follow=True).content.decode()
    assert "Page voice" in studio and "clone" in studio
    page.post(f"/studio/voices/{voice.id}/delete")
    assert not Voice.objects.filter(kind="clone").exists()
