"""Hostile and careless input: odd text, broken JSON, lying uploads, oversized and chunked bodies,
huge headers. Every answer is clean (the API's envelope, or a page with a message), never a 500,
and nothing is stored or charged for a refusal.

Refusals that never reach the worker are checked in-process with Django's client; text that is
accepted is spoken by the real stack (engine, worker, uvicorn) and must end done or failed with the
books right; bodies, chunking and headers are sent to the real uvicorn over a socket.
"""

import base64
import io
import json
import socket
import struct
import subprocess
import tempfile
import time
import wave
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
from django.test import Client

from accounts.models import ApiToken, Team
from accounts.services import token_create
from billing.models import Hold, LedgerEntry
from billing.selectors import ledger_sum, wallet_for
from studio.models import Generation, Session
from studio.services import session_create
from voices.models import Voice

SPEECH = "/api/v1/tts_non_stream"
MODEL = "outetts_1_pro"


# ---------- helpers ----------


def assert_envelope(response, status: int | set[int], code: str | None = None) -> dict:
    statuses = {status} if isinstance(status, int) else status
    content = response.content if hasattr(response, "content") else response
    assert response.status_code in statuses, (response.status_code, content[:300])
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(content)
    assert body["success"] is False and body["code"] and body["message"], body
    if code:
        assert body["code"] == code, body
    return body


class Books:
    """What a refusal must not change: stored rows and the account's money."""

    def __init__(self, user) -> None:
        self.user = user
        self.before = self.snapshot()

    def snapshot(self) -> dict:
        wallet = wallet_for(self.user)
        return {
            "generations": Generation.objects.count(),
            "voices": Voice.objects.filter(kind="clone").count(),
            "ledger": LedgerEntry.objects.count(),
            "holds": Hold.objects.count(),
            "balance": wallet.balance,
            "held": wallet.held,
            "tokens": ApiToken.objects.count(),
            "teams": Team.objects.count(),
        }

    def assert_unchanged(self, what: str = "") -> None:
        assert self.snapshot() == self.before, f"a refused request changed what is stored {what}"


@pytest.fixture
def token(user) -> str:
    return token_create(user=user, name="hostile")[1]


@pytest.fixture
def api(token) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}", raise_request_exception=False)


@pytest.fixture
def page(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


@pytest.fixture
def voice_id(builtin_voices) -> str:
    return str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id)


def raw_json(client: Client, path: str, body: str | bytes):
    return client.post(path, body, content_type="application/json")


# ---------- text and JSON, refused before any work ----------

DEEP = "[" * 10_000 + "]" * 10_000
DEEP_OBJECT = '{"a":' * 10_000 + "1" + "}" * 10_000
HUGE_NUMBER = "9" * 5_000


def _speech_json(voice_id: str, **fields) -> str:
    return json.dumps({"text": "Hello.", "voice_id": voice_id, "model_name": MODEL, **fields})


REFUSED_SPEECH_BODIES = {
    "empty": "",
    "not json": "{nope",
    "bad utf-8": b"\xff\xfe\xfa",
    "nested 10,000 deep": DEEP,
    "object nested 10,000 deep": DEEP_OBJECT,
    "a 5,000-digit number": '{"text": ' + HUGE_NUMBER + ', "voice_id": "x", "model_name": "outetts_1_pro"}',
    "text a number": '{"text": 42, "voice_id": "V", "model_name": "outetts_1_pro"}',
    "text a float": '{"text": 1e999, "voice_id": "V", "model_name": "outetts_1_pro"}',
    "text null": '{"text": null, "voice_id": "V", "model_name": "outetts_1_pro"}',
    "text an object": '{"text": {"a": 1}, "voice_id": "V", "model_name": "outetts_1_pro"}',
    "voice a number": '{"text": "Hi", "voice_id": 5, "model_name": "outetts_1_pro"}',
    "voice a list": '{"text": "Hi", "voice_id": ["V"], "model_name": "outetts_1_pro"}',
    "model a boolean": '{"text": "Hi", "voice_id": "V", "model_name": true}',
    "duplicate keys, the last empty": '{"text": "Hi", "text": "", "voice_id": "V", "model_name": "outetts_1_pro"}',
    "duplicate keys, the last a number": '{"text": "Hi", "voice_id": "V", "voice_id": 7, "model_name": "m"}',
    "a 10,000-character word": '{"text": "%s", "voice_id": "V", "model_name": "outetts_1_pro"}' % ("a" * 10_000),
    "only control characters": '{"text": "\\u0000\\u0001\\u001b\\u007f\\u009f", "voice_id": "V", '
    '"model_name": "outetts_1_pro"}',
    "only emoji": '{"text": "\\ud83d\\udc4b\\ud83c\\udf0d", "voice_id": "V", "model_name": "outetts_1_pro"}',
    "only RTL marks and zero-width spaces": '{"text": "\\u200f\\u200e\\u202e\\u200b\\ufeff", "voice_id": "V", '
    '"model_name": "outetts_1_pro"}',
    "a voice that does not exist": '{"text": "Hi", "voice_id": "nobody", "model_name": "outetts_1_pro"}',
    "a JSON string, not an object": '"text"',
    "a JSON array": '["Hi", "V", "outetts_1_pro"]',
}


@pytest.mark.parametrize("case", sorted(REFUSED_SPEECH_BODIES))
@pytest.mark.parametrize("path", ["/api/v1/tts_non_stream", "/api/v1/tts_stream"])
def test_hostile_speech_bodies_are_refused_in_the_envelope(api, user, voice_id, path, case):
    body = REFUSED_SPEECH_BODIES[case]
    if isinstance(body, str):
        body = body.replace('"V"', json.dumps(voice_id))
    books = Books(user)
    assert_envelope(raw_json(api, path, body), {400, 404})
    books.assert_unchanged(case)


# Defects: inputs that reach the database unchecked and make it raise.
SURROGATE_TEXT = '{"text": "Hello \\ud800 world", "voice_id": "V", "model_name": "outetts_1_pro"}'
SURROGATE_VOICE = '{"text": "Hello", "voice_id": "\\udfff", "model_name": "outetts_1_pro"}'
NUL_VOICE = '{"text": "Hello", "voice_id": "EN-FEMALE\\u0000", "model_name": "outetts_1_pro"}'


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(SURROGATE_TEXT, id="lone surrogate in text"),
        pytest.param(SURROGATE_VOICE, id="lone surrogate voice"),
        pytest.param(NUL_VOICE, id="NUL in voice"),
    ],
)
@pytest.mark.parametrize("path", ["/api/v1/tts_non_stream", "/api/v1/tts_stream"])
def test_unstorable_strings_in_speech_requests_are_refused(transactional_db, api, user, voice_id, path, body):
    books = Books(user)
    assert_envelope(raw_json(api, path, body.replace('"V"', json.dumps(voice_id))), {400, 404})
    books.assert_unchanged()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"text": "Hi \ud800", "speaker": {"default": "EN-FEMALE-1-NEUTRAL"}},
            id="surrogate text (pydantic refuses it here)",
        ),
        pytest.param(
            {"text": "Hi", "speaker": {"default": "EN\x00"}},
            id="NUL speaker",
        ),
        pytest.param(
            {"token": "oute_\udc00", "text": "Hi", "speaker": {"default": "EN-FEMALE-1-NEUTRAL"}},
            id="surrogate token",
        ),
    ],
)
def test_legacy_api_unstorable_strings(transactional_db, user, token, body):
    books = Books(user)
    response = raw_json(Client(raise_request_exception=False), "/api/v1/tts", json.dumps({"token": token, **body}))
    assert_envelope(response, {400, 401, 404})
    books.assert_unchanged()


def test_legacy_api_hostile_bodies(api, user, token):
    books = Books(user)
    base = {"token": token, "text": "Hello.", "speaker": {"default": "EN-FEMALE-1-NEUTRAL"}}
    for body in [
        DEEP,
        DEEP_OBJECT,
        json.dumps({**base, "temperature": "hot"}),
        '{"token": "x", "text": "t", "speaker": {"default": "a"}, "temperature": NaN}',
        '{"token": "x", "text": "t", "speaker": {"default": "a"}, "temperature": ' + HUGE_NUMBER + "}",
        json.dumps({**base, "speaker": {"default": 5}}),
        json.dumps({**base, "speaker": {"default": "A", "custom": "B"}}),
        json.dumps({**base, "speaker": []}),
        json.dumps({**base, "token": 12345}),
        json.dumps({**base, "token": "oute_" + "x" * 10_000}),
        json.dumps({**base, "text": "\x00\x01"}),
    ]:
        assert_envelope(raw_json(Client(), "/api/v1/tts", body), {400, 401, 404})
    books.assert_unchanged()


def test_token_names_and_hostile_token_bodies(api, user):
    books = Books(user)
    for body in [DEEP, '{"name": 5}', '{"name": ""}', '{"name": "%s"}' % ("x" * 101), '{"name": "\\ud800"}']:
        assert_envelope(raw_json(api, "/api/v1/tokens", body), 400, "VALIDATION_ERROR")
    books.assert_unchanged()


def test_token_name_with_a_nul_is_refused(transactional_db, api, user):
    books = Books(user)
    assert_envelope(raw_json(api, "/api/v1/tokens", '{"name": "CI\\u0000"}'), 400, "VALIDATION_ERROR")
    books.assert_unchanged()


def test_huge_and_hostile_authorization_headers(user):
    for header in [
        "Bearer " + "oute_" + "x" * 100_000,
        "Bearer oute_\x00",
        "Bearer " + "é" * 50,
        "Bearer",
        "x" * 10_000,
    ]:
        response = Client(HTTP_AUTHORIZATION=header).get("/api/v1/voices")
        assert_envelope(response, 401, "UNAUTHORIZED")


# ---------- the Studio composer and the pages' forms ----------


def test_studio_composer_refuses_hostile_json_with_a_message(page, user, voice_id):
    session = session_create(owner=user)
    url = f"/studio/sessions/{session.id}/generations"
    books = Books(user)
    for body in [
        "",
        "{nope",
        b"\xff\xfe",
        "[]",
        '"text"',
        json.dumps({"text": 42, "voice_id": voice_id}),
        json.dumps({"text": ["a"], "voice_id": voice_id}),
        json.dumps({"text": "Hi", "voice_id": 5}),
        json.dumps({"text": "Hi", "voice_id": {"id": voice_id}}),
        json.dumps({"text": "a" * 10_000, "voice_id": voice_id}),
        json.dumps({"text": "\U0001f44b\U0001f30d", "voice_id": voice_id}),
        json.dumps({"text": "\x00\x01\x02", "voice_id": voice_id}),
    ]:
        response = raw_json(page, url, body)
        assert response.status_code in {400, 404}, (body[:60], response.status_code)
        assert response.json()["message"], body[:60]
    books.assert_unchanged()


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(DEEP, id="nested 10,000 deep"),
        pytest.param(
            '{"text": ' + HUGE_NUMBER + "}",
            id="huge number",
        ),
        pytest.param(
            '{"text": "Hi \\ud800", "voice_id": "V"}',
            id="surrogate text",
        ),
        pytest.param(
            '{"text": "Hi", "voice_id": "a\\u0000"}',
            id="NUL voice",
        ),
    ],
)
def test_studio_composer_unparseable_or_unstorable_bodies(transactional_db, page, user, voice_id, body):
    session = session_create(owner=user)
    books = Books(user)
    response = raw_json(page, f"/studio/sessions/{session.id}/generations", body.replace('"V"', json.dumps(voice_id)))
    assert response.status_code in {400, 404}, response.status_code
    assert response.json()["message"]
    books.assert_unchanged()


@pytest.mark.parametrize(
    ("url", "data"),
    [
        pytest.param("/account/tokens/new", {"name": "CI\x00"}, id="token name"),
        pytest.param("/teams/", {"name": "Crew\x00"}, id="team name"),
        pytest.param("SESSION/rename", {"title": "Title\x00"}, id="session title"),
    ],
)
def test_page_forms_refuse_a_nul_with_a_message(transactional_db, page, user, url, data):
    session = session_create(owner=user, title="Kept")
    url = url.replace("SESSION", f"/studio/sessions/{session.id}")
    books = Books(user)
    response = page.post(url, data)
    assert response.status_code in {200, 302, 400}, response.status_code
    books.assert_unchanged()
    assert Session.objects.get(id=session.id).title == "Kept"


def test_page_forms_with_hostile_values_answer_cleanly(page, user):
    team_id = page.post("/teams/", {"name": "Crew"}).url.split("/")[2]
    books = Books(user)
    session = session_create(owner=user, title="Kept")
    for url, data in [
        (f"/teams/{team_id}/", {"action": "invite", "email": "a\x00@example.com"}),
        (f"/teams/{team_id}/", {"action": "invite", "email": "x" * 10_000}),
        (f"/teams/{team_id}/", {"action": "remove", "user_id": HUGE_NUMBER}),
        (f"/teams/{team_id}/", {"action": "remove", "user_id": "abc"}),
        (f"/teams/{team_id}/", {"action": "\x00"}),
        (f"/studio/sessions/{session.id}/share", {"team": "\x00", "role": "editor"}),
        (f"/studio/sessions/{session.id}/share", {"team": team_id, "role": "owner\x00"}),
        (f"/studio/sessions/{session.id}/share", {"unshare": HUGE_NUMBER}),
        (f"/studio/sessions/{session.id}/rename", {"title": "   "}),
        ("/account/tokens/new", {"name": "x" * 101}),
        ("/account/tokens/new", {"name": ""}),
    ]:
        response = page.post(url, data)
        assert response.status_code in {200, 302, 400, 404}, (url, data, response.status_code)
    for url in [f"/account/?page={HUGE_NUMBER}", f"/studio/sessions/{session.id}/?sessions=-1", "/account/?page=\x00"]:
        assert page.get(url).status_code == 200, url
    books.assert_unchanged()


def test_range_headers_within_reason(page, user, builtin_voices):
    from tests.test_account_isolation import _generation

    generation = _generation(session_create(owner=user), user, builtin_voices["EN-MALE-1-NEUTRAL"], "Hi")
    url = f"/studio/generations/{generation.id}/audio"
    for header, status in [
        ("bytes=0-99", 206),
        ("bytes=-10", 206),
        ("bytes=5-1", 416),
        ("bytes=-0", 416),
        ("bytes=99999999999-", 416),
        ("bytes=--", 200),
        ("pages=1-2", 200),
    ]:
        assert page.get(url, HTTP_RANGE=header).status_code == status, header
    generation.audio.delete(save=False)


@pytest.mark.parametrize("header", ["bytes=" + HUGE_NUMBER + "-", "bytes=0-" + HUGE_NUMBER])
def test_a_range_header_with_thousands_of_digits(page, user, builtin_voices, header):
    from tests.test_account_isolation import _generation

    generation = _generation(session_create(owner=user), user, builtin_voices["EN-MALE-1-NEUTRAL"], "Hi")
    try:
        assert page.get(f"/studio/generations/{generation.id}/audio", HTTP_RANGE=header).status_code in {200, 416}
    finally:
        generation.audio.delete(save=False)


# ---------- uploads that lie ----------


def _wav(samples: np.ndarray, rate: int = 24_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def _tone(seconds: float, rate: int = 24_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (8000 * np.sin(2 * np.pi * 220 * t)).astype(np.int16)


def _ffmpeg_mp3(wav: bytes, *extra: str) -> bytes:
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "in.wav", Path(folder) / "out.mp3"
        source.write_bytes(wav)
        subprocess.run(
            ["ffmpeg", "-v", "error", "-y", "-i", str(source), *extra, str(out)], check=True, capture_output=True
        )
        return out.read_bytes()


def _mp3_claiming_hours() -> bytes:
    """A decompression bomb: ~10 MB of MPEG frames, hours of audio at 8 kbps, made by repeating
    the frames of a one-second MP3 (each frame decodes on its own)."""
    one = _ffmpeg_mp3(
        _wav(_tone(1.0, 8000), 8000), "-ar", "8000", "-b:a", "8k", "-write_xing", "0", "-id3v2_version", "0"
    )
    start = one.index(b"\xff\xf3") if b"\xff\xf3" in one else one.index(b"\xff\xfb")
    frames = one[start:]
    return frames * (9 * 1024 * 1024 // len(frames))


def _mp3_with_absurd_frame_count() -> bytes:
    """One second of MP3 whose Xing header claims 4 billion frames (hours of audio)."""
    mp3 = _ffmpeg_mp3(_wav(_tone(1.0)), "-b:a", "64k")
    for tag in (b"Xing", b"Info"):
        at = mp3.find(tag)
        if at >= 0:
            flags = struct.unpack(">I", mp3[at + 4 : at + 8])[0]
            assert flags & 1, "the Xing header has a frame count"
            return mp3[: at + 8] + struct.pack(">I", 0xFFFFFFFF) + mp3[at + 12 :]
    raise AssertionError("ffmpeg wrote no Xing/Info header")


def _wav_with_absurd_sizes() -> bytes:
    wav = bytearray(_wav(_tone(1.0)))
    wav[4:8] = struct.pack("<I", 0xFFFFFFFF)  # RIFF size
    data = wav.index(b"data")
    wav[data + 4 : data + 8] = struct.pack("<I", 0xFFFFFFF0)  # data size: hours
    return bytes(wav)


def _wav_claiming_one_hertz() -> bytes:
    """Eight seconds of samples declared at 1 Hz: 192,000 seconds of audio."""
    wav = bytearray(_wav(_tone(8.0)))
    wav[24:28] = struct.pack("<I", 1)
    wav[28:32] = struct.pack("<I", 2)
    return bytes(wav)


def _wav_with_impossible_format() -> bytes:
    wav = bytearray(_wav(_tone(6.0)))
    wav[22:24] = struct.pack("<H", 65535)  # channels
    wav[34:36] = struct.pack("<H", 0)  # bits per sample
    return bytes(wav)


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n" + b"0" * 5000 + b"\n%%EOF\n"

LYING_UPLOADS = {
    "WAV header on garbage": ("voice.wav", lambda: b"RIFF\x24\x00\x10\x00WAVE" + bytes(range(256)) * 400),
    "a PDF named .mp3": ("voice.mp3", lambda: PDF),
    "a PDF sent as audio/wav": ("voice.wav", lambda: PDF),
    "a truncated WAV (header and 0.1 s)": ("voice.wav", lambda: _wav(_tone(8.0))[:5_000]),
    "a WAV cut before its data": ("voice.wav", lambda: _wav(_tone(8.0))[:30]),
    "an MP3 sync word on garbage": ("voice.mp3", lambda: b"\xff\xfb\x90\x00" + bytes(range(256)) * 400),
    "an ID3 tag and nothing else": ("voice.mp3", lambda: b"ID3\x04\x00\x00\x00\x00\x00\x00"),
    "an MP3 of hours (decompression bomb)": ("voice.mp3", _mp3_claiming_hours),
    "an MP3 whose Xing header claims 4 billion frames": ("voice.mp3", _mp3_with_absurd_frame_count),
    "a WAV whose header claims hours": ("voice.wav", _wav_with_absurd_sizes),
    "a WAV at 1 Hz (192,000 s)": ("voice.wav", _wav_claiming_one_hertz),
    "a WAV with 65,535 channels of 0 bits": ("voice.wav", _wav_with_impossible_format),
    "silence": ("voice.wav", lambda: _wav(np.zeros(24_000 * 7))),
    "an empty file": ("voice.wav", lambda: b""),
}


@pytest.mark.parametrize("case", sorted(LYING_UPLOADS))
def test_lying_uploads_are_refused_quickly_through_the_api(api, user, case):
    filename, make = LYING_UPLOADS[case]
    audio = make()
    books = Books(user)
    started = time.monotonic()
    response = api.post(
        "/api/v1/voice-clones", {"speaker_name": "Liar", "audio": _named(audio, filename)}, format="multipart"
    )
    elapsed = time.monotonic() - started
    body = assert_envelope(response, {400, 413}, None)
    assert body["code"] in {"VALIDATION_ERROR", "PAYLOAD_TOO_LARGE"}, body
    assert elapsed < 15, f"{case}: {elapsed:.1f} s to refuse"
    # The same bytes as base64 JSON.
    as_json = json.dumps({"speaker_name": "Liar", "audio_base64": base64.b64encode(audio).decode()})
    assert_envelope(raw_json(api, "/api/v1/voice-clones", as_json), {400, 413})
    books.assert_unchanged(case)


@pytest.mark.parametrize(
    "case", ["a PDF named .mp3", "an MP3 of hours (decompression bomb)", "a WAV at 1 Hz (192,000 s)"]
)
def test_lying_uploads_on_the_clone_page_get_a_message(page, user, case):
    filename, make = LYING_UPLOADS[case]
    books = Books(user)
    response = page.post(
        "/studio/voices/new", {"speaker_name": "Liar", "consent": "on", "audio": _named(make(), filename)}
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert 'class="form-error" role="alert"' in html, "the page says what is wrong"
    books.assert_unchanged(case)


def _named(data: bytes, name: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="audio/mpeg" if name.endswith(".mp3") else "audio/wav")


def test_clone_uploads_without_the_file_or_too_big(api, page, user, settings):
    books = Books(user)
    assert_envelope(api.post("/api/v1/voice-clones", {"speaker_name": "x"}), 400, "VALIDATION_ERROR")
    assert_envelope(api.post("/api/v1/voice-clones", {"audio": ""}), 400, "VALIDATION_ERROR")
    assert_envelope(api.post("/api/v1/voice-clones", b"--x\r\n", content_type="multipart/form-data; boundary=x"), 400)
    big = b"RIFF" + b"\x00" * (settings.VOICE_CLONE_MAX_UPLOAD_BYTES + 1)
    assert_envelope(api.post("/api/v1/voice-clones", {"speaker_name": "x", "audio": _named(big, "a.wav")}), 413)
    as_json = json.dumps({"speaker_name": "x", "audio_base64": base64.b64encode(big).decode()})
    assert_envelope(raw_json(api, "/api/v1/voice-clones", as_json), 413)
    for body in ['{"speaker_name": "x", "audio_base64": 5}', '{"audio_base64": "!!!"}', '{"audio_base64": "\\ud800"}']:
        assert_envelope(raw_json(api, "/api/v1/voice-clones", body), 400, "VALIDATION_ERROR")
    missing = page.post("/studio/voices/new", {"speaker_name": "x", "consent": "on"})
    assert missing.status_code == 400 and "Choose a recording" in missing.content.decode()
    assert page.post("/studio/voices/new", b"abc", content_type="multipart/form-data").status_code == 400
    books.assert_unchanged()


@pytest.mark.parametrize(
    "body", [DEEP, DEEP_OBJECT, '{"audio_base64": ' + HUGE_NUMBER + "}"], ids=["array", "object", "number"]
)
def test_clone_json_nested_10000_deep(api, user, body):
    assert_envelope(raw_json(api, "/api/v1/voice-clones", body), 400, "VALIDATION_ERROR")


def test_clone_multipart_without_a_boundary(api, user):
    assert_envelope(api.post("/api/v1/voice-clones", b"abc", content_type="multipart/form-data"), 400)


def test_clone_multipart_with_too_many_fields(api, user):
    fields = {f"f{i}": "x" for i in range(2_000)}
    assert_envelope(api.post("/api/v1/voice-clones", fields), 400)


# ---------- the real stack: accepted hostile text, bodies, chunks, headers ----------

ACCEPTED_TEXTS = {
    "control characters": "Hello\x01\x02\x1b[31m world\x7f\x85\x9f\t\nagain.",
    "NUL bytes": "Hello\x00 there\x00.",
    "Arabic": "مرحبا بالعالم، كيف حالك؟",
    "Hebrew with RTL marks": "\u202bשלום עולם\u202c \u200fhello\u200e.",
    "CJK": "你好，世界。今日は世界。안녕하세요 세계.",
    "Devanagari": "नमस्ते दुनिया, आप कैसे हैं?",
    "Cyrillic and Greek": "Привет, мир! Γειά σου κόσμε.",
    "Thai": "สวัสดีชาวโลก",
    "emoji between words": "Hello 👋🏽 world 🌍 family 👨‍👩‍👧 done.",
    "combining marks (zalgo)": "Z̷̢͓a̸̛l̴̰g̵̟o̶ speaks.",
    "a 400-character word": "supercalifragilistic" * 20,
    "right-to-left override": "\u202eHello reversed world.\u202c",
}


@pytest.fixture
def live(transactional_db, web_url, user, builtin_voices, settings) -> httpx.Client:
    _, secret = token_create(user=user, name="hostile live")
    with httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {secret}"}, timeout=180) as client:
        client.voice_id = str(builtin_voices["EN-MALE-1-NEUTRAL"].id)
        yield client


pytestmark_stack = pytest.mark.stack


@pytestmark_stack
def test_accepted_hostile_texts_are_spoken_or_fail_cleanly_and_the_books_balance(live, user):
    answers = {}
    for case, text in ACCEPTED_TEXTS.items():
        response = live.post(SPEECH, json={"text": text, "voice_id": live.voice_id, "model_name": MODEL})
        answers[case] = response.status_code
        assert response.status_code < 500 or response.status_code == 502, (case, response.status_code, response.text)
        if response.status_code == 200:
            assert response.headers["content-type"] == "audio/wav" and response.content[:4] == b"RIFF", case
        else:
            body = response.json()
            assert body["success"] is False and body["code"] in {"VALIDATION_ERROR", "TTS_PROVIDER_UNAVAILABLE"}, body
    assert answers["control characters"] == answers["NUL bytes"] == answers["emoji between words"] == 200, answers
    generations = list(Generation.objects.filter(user=user))
    assert generations and all(g.status in {"done", "failed"} for g in generations), [g.status for g in generations]
    for generation in generations:
        assert "\x00" not in generation.text
        hold = Hold.objects.get(generation=generation)
        assert hold.settled_at is not None and hold.charged == generation.cost
        if generation.status == "failed" and not generation.audio:
            assert generation.cost == 0, "a failure with no audio is not charged"
        if generation.status == "done":
            # A second costs 1,000 µcr: the length in milliseconds, half a millisecond rounded up.
            millis = Decimal(str(generation.seconds)) * 1000
            assert generation.audio and generation.cost == int(millis.to_integral_value(rounding=ROUND_HALF_UP))
    wallet = wallet_for(user)
    assert wallet.held == 0 and wallet.balance == ledger_sum(user)


def _address(web_url: str) -> tuple[str, int]:
    parsed = urlparse(web_url)
    return parsed.hostname, parsed.port


def _exchange(web_url: str, head: bytes, body_chunks=(), *, read_timeout: float = 10.0) -> tuple[int, bytes, float]:
    """Sends a request's head and some body over a socket, then reads the answer: (status, body, seconds)."""
    started = time.monotonic()
    with socket.create_connection(_address(web_url), timeout=read_timeout) as sock:
        sock.sendall(head)
        for chunk in body_chunks:
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError):
                break
        answer = b""
        try:
            while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 4 + _length(answer):
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
        except (TimeoutError, ConnectionResetError):
            pass
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/") else 0
    return status, answer.partition(b"\r\n\r\n")[2], time.monotonic() - started


def _length(answer: bytes) -> int:
    head = answer.partition(b"\r\n\r\n")[0].lower()
    for line in head.split(b"\r\n"):
        if line.startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 1 << 30


def _head(path: str, token: str, *lines: str) -> bytes:
    return "\r\n".join(
        [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {token}", *lines, "", ""]
    ).encode()


@pytestmark_stack
def test_a_body_far_over_the_limit_is_refused_from_its_length_before_it_is_sent(live, user, web_url):
    books = Books(user)
    secret = live.headers["Authorization"].split()[1]
    for path in [SPEECH, "/api/v1/voice-clones", "/studio/voices/new"]:
        head = _head(path, secret, "Content-Type: application/json", f"Content-Length: {50 * 1024**3}")
        status, body, seconds = _exchange(web_url, head)
        assert status == 413 and seconds < 5, (path, status, seconds)
        assert json.loads(body)["code"] == "PAYLOAD_TOO_LARGE"
    # A length that is not a number.
    status, _, _ = _exchange(web_url, _head(SPEECH, secret, "Content-Length: 12abc", ""))
    assert status in {400, 413}
    books.assert_unchanged()


@pytestmark_stack
def test_a_chunked_body_without_a_length_is_cut_off_at_the_limit(live, user, web_url, settings):
    books = Books(user)
    secret = live.headers["Authorization"].split()[1]
    chunk = b"a" * 1024 * 1024
    sent_before_refusal = settings.DATA_UPLOAD_MAX_MEMORY_SIZE // len(chunk) + 2
    # The body never ends: the server has to answer from what it counted, not wait for the rest.
    chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * sent_before_refusal
    head = _head(SPEECH, secret, "Content-Type: application/json", "Transfer-Encoding: chunked")
    status, body, seconds = _exchange(web_url, head, chunks)
    assert status == 413 and json.loads(body)["code"] == "PAYLOAD_TOO_LARGE", (status, body[:200])
    assert seconds < 20
    # A small chunked body is read whole and answered like any other.
    small = json.dumps({"text": "", "voice_id": live.voice_id, "model_name": MODEL}).encode()
    chunks = [
        b"%x\r\n%s\r\n" % (len(small[:10]), small[:10]),
        b"%x\r\n%s\r\n" % (len(small[10:]), small[10:]),
        b"0\r\n\r\n",
    ]
    status, body, _ = _exchange(web_url, head, chunks)
    assert status == 400 and json.loads(body)["code"] == "VALIDATION_ERROR", (status, body[:200])
    books.assert_unchanged()


@pytestmark_stack
def test_huge_headers_are_refused_by_the_server_not_by_a_crash(live, web_url):
    # One header of 100 KB, and 2,000 headers: uvicorn (httptools) reads them all and Django answers
    # (no token here: 401 in the envelope); a server that refused them would say 400/431. Never a 500,
    # and the server keeps serving.
    for extra in (["X-Big: " + "x" * 100_000], [f"X-H{i}: {'y' * 100}" for i in range(2_000)]):
        head = "\r\n".join(["GET /api/v1/voices HTTP/1.1", "Host: 127.0.0.1", *extra, "", ""]).encode()
        status, body, _ = _exchange(web_url, head)
        assert status in {0, 400, 401, 413, 431}, status
        if status == 401:
            assert json.loads(body)["code"] == "UNAUTHORIZED"
    # Under the server's limits, Django and the API answer in the envelope.
    response = live.get("/api/v1/voices", headers={"X-Big": "x" * 8_000, "Cookie": "a=" + "b" * 4_000})
    assert response.status_code == 200
    response = httpx.get(f"{web_url}/api/v1/voices", headers={"Authorization": "Bearer oute_" + "x" * 8_000})
    assert response.status_code == 401 and response.json()["code"] == "UNAUTHORIZED"
    assert live.get("/api/v1/health").status_code == 200


@pytestmark_stack
def test_clone_name_with_a_nul_is_refused_before_the_engine_works(live, user):
    from tests.reference_clips import clip, to_wav

    books = Books(user)
    response = live.post(
        "/api/v1/voice-clones", data={"speaker_name": "Stella\x00"}, files={"audio": ("v.wav", to_wav(*clip("slt", 7)))}
    )
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR", response.text
    books.assert_unchanged()
