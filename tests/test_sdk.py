"""The repository's own Python SDK (sdk/, the `outeai` package) against the live stack: every method,
sync and async, streaming in pieces, each error code as OuteAIAPIError, retries that stop at their
limit (on a web process of its own with a rate limit of 2 a minute), the legacy TTSClient, the
README's examples, and `pip install ./sdk` in a fresh virtualenv running the quick start."""

import asyncio
import io
import json
import os
import re
import subprocess
import sys
import time
import uuid
import wave
from pathlib import Path

import httpx
import outeai
import pytest
import soundfile
from outeai import AsyncOuteAI, OuteAI, OuteAIAPIError, OuteAIError, SpeechResult
from outeai._common import RESPONSE_FORMATS
from outeai.api import v1 as legacy

from accounts.services import token_create
from api import API_VERSION
from billing.services import credits_admin_change
from harness.processes import free_port, running_process, web_command
from studio.models import Generation
from tests.audio_checks import (
    assert_audio_format,
    audio_decoded_wav,
    audio_probe,
    rms_dbfs,
    transcribe,
    wav_info,
    word_error_rate,
)
from tests.conftest import _stack_env

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "sdk" / "README.md"
PLACEHOLDER_KEY = "oute_xxxxxxxxxxxxxxxxxxxxxxxx"
UNKNOWN_VOICE = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
MULTI_SENTENCE = (
    "The first sentence opens the stream. A second sentence follows it closely. "
    "Then a third one keeps the engine busy. And the fourth sentence closes it."
)
TIMEOUT = 300


# ---------- fixtures and helpers ----------


@pytest.fixture
def secret(transactional_db, web_url, user, builtin_voices) -> str:
    return token_create(user=user, name="sdk tests")[1]


@pytest.fixture
def client(secret, web_url):
    with OuteAI(secret, base_url=web_url, timeout=TIMEOUT) as client:
        yield client


@pytest.fixture
def voice_id(builtin_voices) -> str:
    return str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id)


def assert_wav(wav: bytes, min_seconds: float = 0.5) -> float:
    rate, channels, width, seconds = wav_info(wav)
    assert (rate, channels, width) == (24_000, 1, 2)
    assert seconds > min_seconds and rms_dbfs(wav) > -35
    return seconds


def assert_api_error(error: OuteAIAPIError, status: int, code: str) -> None:
    assert isinstance(error, OuteAIError)
    assert (error.status_code, error.code) == (status, code), str(error)
    assert error.message and error.payload == {"success": False, "code": code, "message": error.message}
    assert str(error) == f"{error.message} (status={status}, code={code})"


def take_credits(user) -> None:
    credits_admin_change(user=user, amount=-999_990, actor=None, reason="SDK tests: no credits left")


class RequestCounter:
    """Counts the requests an httpx client sends, through its event hooks, with their times."""

    def __init__(self) -> None:
        self.times: list[float] = []

    def __call__(self, request: httpx.Request) -> None:
        self.times.append(time.monotonic())

    async def async_hook(self, request: httpx.Request) -> None:
        self(request)

    def sync_client(self) -> httpx.Client:
        return httpx.Client(timeout=TIMEOUT, event_hooks={"request": [self]})

    def async_client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(timeout=TIMEOUT, event_hooks={"request": [self.async_hook]})

    @property
    def count(self) -> int:
        return len(self.times)


def reference_sample(client: OuteAI, voice_id: str) -> bytes:
    """A 6–8 s recording of one speaker to clone from, made by the server itself."""
    wav = client.generate_speech(
        text="My voice is calm and clear. I read this short passage slowly, so that it can be copied well.",
        voice_id=voice_id,
    ).wav_bytes
    with wave.open(io.BytesIO(wav)) as source:
        rate, pcm = source.getframerate(), source.readframes(source.getnframes())
    bytes_per_second = rate * 2
    pcm = pcm[: 8 * bytes_per_second] + b"\0\0" * max(0, 6 * rate - len(pcm) // 2)
    out = io.BytesIO()
    with wave.open(out, "wb") as target:
        target.setnchannels(1)
        target.setsampwidth(2)
        target.setframerate(rate)
        target.writeframes(pcm)
    return out.getvalue()


def clone_endpoints_missing(error: OuteAIAPIError) -> bool:
    return error.status_code == 404 and "endpoint" in error.message.lower()


# ---------- version and settings ----------


def test_version_matches_the_servers_api_version(client):
    assert outeai.__version__ == outeai.API_VERSION == outeai.SDK_VERSION == API_VERSION == "2.2.0"
    health = client.health()
    assert health["success"] is True and health["data"]["api_version"] == API_VERSION
    assert client.session.headers  # the httpx client is exposed, as the published SDK's session was


def test_api_key_and_base_url_come_from_the_environment(secret, web_url, monkeypatch):
    monkeypatch.setenv("OUTEAI_API_KEY", secret)
    monkeypatch.setenv("OUTEAI_BASE_URL", web_url)
    with OuteAI() as client:
        assert client.base_url == web_url
        assert any(v["speaker_name"] == "EN-MALE-1-NEUTRAL" for v in client.list_voices())
    monkeypatch.delenv("OUTEAI_API_KEY")
    with pytest.raises(OuteAIError, match="OUTEAI_API_KEY"):
        OuteAI()
    with pytest.raises(OuteAIError, match="api_key"):
        OuteAI("  ")


def test_arguments_are_checked_before_any_request(client, voice_id):
    for bad in [{"text": " ", "voice_id": voice_id}, {"text": "Hi", "voice_id": ""}]:
        with pytest.raises(OuteAIError) as caught:
            client.generate_speech(**bad)
        assert not isinstance(caught.value, OuteAIAPIError)
        with pytest.raises(OuteAIError):
            client.stream_speech(**bad)
    with pytest.raises(OuteAIError, match="model"):
        client.generate_speech(text="Hi", voice_id=voice_id, model="")
    with pytest.raises(OuteAIError, match="speaker_name"):
        client.create_voice_clone(speaker_name="", audio=b"RIFF")
    with pytest.raises(OuteAIError, match="empty"):
        client.create_voice_clone(speaker_name="Me", audio=b"")
    with pytest.raises(OuteAIError, match="name"):
        client.create_token(" ")
    assert not Generation.objects.exists()


# ---------- speech, sync and async ----------


def test_sync_speech_every_method(client, voice_id, tmp_path):
    voices = client.list_voices()
    assert {"EN-FEMALE-1-NEUTRAL", "EN-MALE-1-NEUTRAL"} <= {v["speaker_name"] for v in voices}
    assert all({"voice_id", "speaker_name", "is_clone"} <= set(v) for v in voices)

    audio = client.generate_speech(text="Hello, world! This is OuteAI.", voice_id=voice_id)
    assert isinstance(audio, SpeechResult)
    assert (audio.content_type, audio.sample_rate, audio.channels, audio.sample_width) == ("audio/wav", 24_000, 1, 2)
    seconds = assert_wav(audio.wav_bytes)
    assert audio.duration == pytest.approx(seconds, abs=0.01)
    assert audio.save(tmp_path / "hello.wav").read_bytes() == audio.wav_bytes

    path = client.generate_speech_to_file(tmp_path / "file.wav", text="Saving directly to a file.", voice_id=voice_id)
    assert path == tmp_path / "file.wav" and assert_wav(path.read_bytes())

    # Chunks as they arrive: a multi-sentence text comes in more than one piece.
    with client.stream_speech(text=MULTI_SENTENCE, voice_id=voice_id, chunk_size=None) as stream:
        assert stream.status_code == 200 and stream.headers["content-type"] == "audio/wav"
        chunks = list(stream)
    assert stream.closed
    assert len(chunks) >= 2, "the stream arrived in one piece"
    assert assert_wav(b"".join(chunks), min_seconds=3)

    # A small chunk size gives chunks of that size.
    with client.stream_speech(text="Streaming audio chunk by chunk.", voice_id=voice_id, chunk_size=2048) as stream:
        sized = list(stream)
    assert len(sized) >= 2 and all(len(chunk) == 2048 for chunk in sized[:-1])
    assert_wav(b"".join(sized))

    with client.stream_speech(text="Saving a stream.", voice_id=voice_id) as stream:
        assert stream.save(tmp_path / "streamed.wav") == tmp_path / "streamed.wav"
    assert_wav((tmp_path / "streamed.wav").read_bytes())
    path = client.stream_speech_to_file(tmp_path / "streamed2.wav", text="Saving a stream.", voice_id=voice_id)
    assert_wav(path.read_bytes())

    assert Generation.objects.filter(source="api", status="done").count() == 6

    # A stream may be closed before it is read; it cannot be read after.
    stream = client.stream_speech(text=MULTI_SENTENCE, voice_id=voice_id)
    stream.close()
    assert stream.closed
    with pytest.raises(OuteAIError, match="closed"):
        list(stream)


def test_async_speech_every_method(secret, web_url, voice_id, tmp_path):
    async def scenario() -> dict:
        async with AsyncOuteAI(secret, base_url=web_url, timeout=TIMEOUT) as client:
            health = await client.health()
            voices = await client.list_voices()
            audio = await client.generate_speech(text="Hello from async!", voice_id=voice_id)
            to_file = await client.generate_speech_to_file(
                tmp_path / "async.wav", text="Async speech to a file.", voice_id=voice_id
            )
            stream = client.stream_speech(text=MULTI_SENTENCE, voice_id=voice_id, chunk_size=None)
            with pytest.raises(OuteAIError, match="not been opened"):
                stream.status_code  # noqa: B018
            async with stream:
                status, content_type = stream.status_code, stream.headers["content-type"]
                chunks = [chunk async for chunk in stream]
            # Iterated without `async with`: the request is sent on the first chunk.
            iterated = [chunk async for chunk in client.stream_speech(text="Async streaming.", voice_id=voice_id)]
            async with client.stream_speech(text="Saving a stream.", voice_id=voice_id) as saving:
                saved = await saving.save(tmp_path / "async-stream.wav")
            streamed = await client.stream_speech_to_file(
                tmp_path / "async-stream2.wav", text="Async streaming to file.", voice_id=voice_id
            )
            return locals()

    result = asyncio.run(scenario())
    assert result["health"]["data"]["api_version"] == API_VERSION
    assert any(v["speaker_name"] == "EN-FEMALE-1-NEUTRAL" for v in result["voices"])
    audio = result["audio"]
    assert (audio.content_type, audio.sample_rate, audio.channels, audio.sample_width) == ("audio/wav", 24_000, 1, 2)
    assert_wav(audio.wav_bytes)
    assert_wav(result["to_file"].read_bytes())
    assert (result["status"], result["content_type"]) == (200, "audio/wav")
    assert len(result["chunks"]) >= 2, "the stream arrived in one piece"
    assert_wav(b"".join(result["chunks"]), min_seconds=3)
    assert_wav(b"".join(result["iterated"]))
    assert_wav(result["saved"].read_bytes())
    assert_wav(result["streamed"].read_bytes())
    assert Generation.objects.filter(source="api", status="done").count() == 6


# ---------- formats and speed (the seeds' API's extensions) ----------

FORMAT_TEXT = "The library closes early on Sundays, so we should go in the morning."
CONTENT_TYPES = RESPONSE_FORMATS  # the SDK's table of the server's formats


def assert_decodes_as(data: bytes, response_format: str) -> float:
    """The file is what its format claims (ffprobe), decodes (ffmpeg) and says the words; its seconds."""
    assert_audio_format(audio_probe(data, response_format), response_format)
    wav = audio_decoded_wav(data, response_format)
    assert word_error_rate(FORMAT_TEXT, transcribe(wav)) <= 0.4, response_format
    return wav_info(wav)[3]


@pytest.mark.parametrize("response_format", sorted(CONTENT_TYPES))
def test_every_response_format_whole_and_streamed(client, voice_id, response_format):
    audio = client.generate_speech(text=FORMAT_TEXT, voice_id=voice_id, response_format=response_format)
    assert audio.content_type == CONTENT_TYPES[response_format]
    whole = assert_decodes_as(audio.wav_bytes, response_format)
    with client.stream_speech(
        text=FORMAT_TEXT, voice_id=voice_id, response_format=response_format, chunk_size=None
    ) as stream:
        assert stream.headers["content-type"] == CONTENT_TYPES[response_format]
        chunks = list(stream)
    streamed = assert_decodes_as(b"".join(chunks), response_format)
    # Encoders pad to their frames and lead in; the two takes are the same text in the same voice.
    assert streamed == pytest.approx(whole, abs=0.15)
    generation = Generation.objects.filter(source="api").latest("created_at")
    # Billed per second of audio whatever the format.
    assert generation.response_format == response_format and generation.seconds == pytest.approx(streamed, abs=0.15)


def test_speed_slows_and_hastens_the_speech_and_the_bill(client, secret, web_url, voice_id):
    slow = client.generate_speech(text=FORMAT_TEXT, voice_id=voice_id, speed=0.75)
    fast = client.generate_speech(text=FORMAT_TEXT, voice_id=voice_id, speed=1.5)
    assert slow.duration > 1.5 * fast.duration
    by_speed = {g.speed: g for g in Generation.objects.filter(source="api")}
    assert by_speed[0.75].cost > 1.5 * by_speed[1.5].cost

    # Async, streamed, in another format.
    async def streamed() -> bytes:
        async with AsyncOuteAI(secret, base_url=web_url, timeout=TIMEOUT) as aclient:
            parts = []
            async with aclient.stream_speech(
                text=FORMAT_TEXT, voice_id=voice_id, response_format="flac", speed=1.5
            ) as stream:
                parts = [chunk async for chunk in stream]
            return b"".join(parts)

    # Kokoro is deterministic: the same take as the sync one at 1.5, in FLAC.
    assert assert_decodes_as(asyncio.run(streamed()), "flac") == pytest.approx(fast.duration, abs=0.05)
    for bad in [{"speed": 0.1}, {"speed": 5}, {"speed": "fast"}, {"response_format": "ogg"}]:
        with pytest.raises(OuteAIError) as caught:
            client.generate_speech(text="Hi", voice_id=voice_id, **bad)
        assert not isinstance(caught.value, OuteAIAPIError)


# ---------- error codes ----------


def test_each_error_code_becomes_outeai_api_error(client, secret, web_url, voice_id, user):
    cases = {
        (400, "VALIDATION_ERROR"): [
            lambda: client.generate_speech(text="Hi", voice_id=voice_id, model="tts-1"),
            lambda: client.generate_speech(text="a" * 5001, voice_id=voice_id),
            lambda: client.stream_speech(text="Hi", voice_id=voice_id, model="tts-1"),
        ],
        (404, "NOT_FOUND"): [
            lambda: client.generate_speech(text="Hi", voice_id=UNKNOWN_VOICE),
            # The sync stream sends its request at once, as the published SDK's did.
            lambda: client.stream_speech(text="Hi", voice_id="nope"),
            lambda: client.revoke_token(str(uuid.uuid4())),
            lambda: client.delete_voice_clone(str(uuid.uuid4())),
        ],
    }
    for (status, code), calls in cases.items():
        for call in calls:
            with pytest.raises(OuteAIAPIError) as caught:
                call()
            assert_api_error(caught.value, status, code)

    with OuteAI("oute_not_a_token", base_url=web_url) as stranger:
        for call in [stranger.list_voices, stranger.list_tokens, stranger.list_voice_clones]:
            with pytest.raises(OuteAIAPIError) as caught:
                call()
            assert_api_error(caught.value, 401, "UNAUTHORIZED")

    take_credits(user)
    for call in [
        lambda: client.generate_speech(text="No credits left for this.", voice_id=voice_id),
        lambda: client.stream_speech(text="No credits left for this.", voice_id=voice_id),
    ]:
        with pytest.raises(OuteAIAPIError) as caught:
            call()
        assert_api_error(caught.value, 402, "INSUFFICIENT_CREDITS")
    assert not Generation.objects.exists()


def test_async_error_codes(secret, web_url, voice_id, user):
    take_credits(user)

    async def scenario() -> list[tuple[int, str]]:
        seen = []
        async with AsyncOuteAI(secret, base_url=web_url) as client, AsyncOuteAI("oute_bad", base_url=web_url) as bad:
            calls = [
                lambda: client.generate_speech(text="Hi", voice_id=voice_id, model="tts-1"),
                lambda: client.generate_speech(text="Hi", voice_id=UNKNOWN_VOICE),
                lambda: client.generate_speech(text="No credits left for this.", voice_id=voice_id),
                lambda: bad.list_voices(),
                lambda: client.revoke_token(str(uuid.uuid4())),
            ]
            for call in calls:
                try:
                    await call()
                except OuteAIAPIError as error:
                    assert_api_error(error, error.status_code, error.code)
                    seen.append((error.status_code, error.code))
            # An async stream raises when it is entered.
            stream = client.stream_speech(text="Hi", voice_id=UNKNOWN_VOICE)
            try:
                async with stream:
                    pass
            except OuteAIAPIError as error:
                seen.append((error.status_code, error.code))
            with pytest.raises(OuteAIError):
                await client.generate_speech(text="", voice_id=voice_id)
        return seen

    assert asyncio.run(scenario()) == [
        (400, "VALIDATION_ERROR"),
        (404, "NOT_FOUND"),
        (402, "INSUFFICIENT_CREDITS"),
        (401, "UNAUTHORIZED"),
        (404, "NOT_FOUND"),
        (404, "NOT_FOUND"),
    ]


# ---------- tokens ----------


def test_tokens_sync(client, web_url):
    created = client.create_token("build server")
    assert set(created) == {"token_id", "name", "token", "created_at", "last_used_at", "scopes"}
    assert created["scopes"] == ["speech", "voices", "tokens"]
    assert created["name"] == "build server" and created["token"].startswith("oute_")
    listed = {t["token_id"]: t for t in client.list_tokens()}
    assert created["token_id"] in listed and listed[created["token_id"]]["token"] != created["token"]
    assert len(listed) == 2  # the test's own token and this one

    with OuteAI(created["token"], base_url=web_url) as second:
        assert second.list_voices()
    assert client.revoke_token(created["token_id"]) == {"token_id": created["token_id"], "revoked": True}
    with OuteAI(created["token"], base_url=web_url) as second, pytest.raises(OuteAIAPIError) as caught:
        second.list_voices()
    assert_api_error(caught.value, 401, "UNAUTHORIZED")
    with pytest.raises(OuteAIAPIError) as caught:
        client.revoke_token(created["token_id"])
    assert_api_error(caught.value, 404, "NOT_FOUND")
    assert [t["token_id"] for t in client.list_tokens()] != [created["token_id"]]


def test_tokens_async(secret, web_url):
    async def scenario() -> tuple:
        async with AsyncOuteAI(secret, base_url=web_url) as client:
            created = await client.create_token("async token")
            listed = await client.list_tokens()
            revoked = await client.revoke_token(uuid.UUID(created["token_id"]))
            after = await client.list_tokens()
        return created, listed, revoked, after

    created, listed, revoked, after = asyncio.run(scenario())
    assert created["token"].startswith("oute_") and created["name"] == "async token"
    assert created["token_id"] in {t["token_id"] for t in listed}
    assert revoked == {"token_id": created["token_id"], "revoked": True}
    assert created["token_id"] not in {t["token_id"] for t in after}


# ---------- voice clones (the endpoints are being built: 404 until they exist) ----------


def test_voice_clones_sync(client, voice_id, tmp_path):
    sample = reference_sample(client, voice_id)
    try:
        before = client.list_voice_clones()
    except OuteAIAPIError as error:
        if clone_endpoints_missing(error):
            pytest.xfail("the voice-clone endpoints do not exist yet")
        raise
    assert before["voice_clones"] == [] and before["quota"]["used"] == 0 and before["quota"]["limit"] >= 1

    (tmp_path / "sample.wav").write_bytes(sample)
    from_path = client.create_voice_clone(speaker_name="From a path", audio=tmp_path / "sample.wav")
    from_str = client.create_voice_clone(speaker_name="From a str", audio=str(tmp_path / "sample.wav"))
    from_bytes = client.create_voice_clone(speaker_name="From bytes", audio=sample)
    with (tmp_path / "sample.wav").open("rb") as handle:
        from_file = client.create_voice_clone(speaker_name="From a file", audio=handle)
    clones = [from_path, from_str, from_bytes, from_file]
    for clone, name in zip(clones, ["From a path", "From a str", "From bytes", "From a file"], strict=True):
        assert clone["speaker_name"] == name and uuid.UUID(clone["voice_id"]) and clone["created_at"]

    listing = client.list_voice_clones()
    assert {c["voice_id"] for c in listing["voice_clones"]} == {c["voice_id"] for c in clones}
    assert listing["quota"]["used"] == 4
    assert from_bytes["voice_id"] in {v["voice_id"] for v in client.list_voices() if v["is_clone"]}
    assert_wav(client.generate_speech(text="This is my own voice.", voice_id=from_bytes["voice_id"]).wav_bytes)

    for clone in clones:
        assert client.delete_voice_clone(clone["voice_id"]) == {"voice_id": clone["voice_id"], "deleted": True}
    with pytest.raises(OuteAIAPIError) as caught:
        client.delete_voice_clone(from_path["voice_id"])
    assert_api_error(caught.value, 404, "NOT_FOUND")
    with pytest.raises(OuteAIAPIError) as caught:
        client.create_voice_clone(speaker_name="Too short", audio=sample[: 44 + 48_000])
    assert_api_error(caught.value, 400, "VALIDATION_ERROR")
    assert client.list_voice_clones()["voice_clones"] == []


def test_voice_clones_async(client, secret, web_url, voice_id):
    sample = reference_sample(client, voice_id)

    async def scenario() -> tuple:
        async with AsyncOuteAI(secret, base_url=web_url, timeout=TIMEOUT) as aclient:
            created = await aclient.create_voice_clone(speaker_name="Async clone", audio=sample)
            listing = await aclient.list_voice_clones()
            deleted = await aclient.delete_voice_clone(created["voice_id"])
            after = await aclient.list_voice_clones()
        return created, listing, deleted, after

    try:
        created, listing, deleted, after = asyncio.run(scenario())
    except OuteAIAPIError as error:
        if clone_endpoints_missing(error):
            pytest.xfail("the voice-clone endpoints do not exist yet")
        raise
    assert created["speaker_name"] == "Async clone"
    assert [c["voice_id"] for c in listing["voice_clones"]] == [created["voice_id"]]
    assert deleted == {"voice_id": created["voice_id"], "deleted": True}
    assert after["voice_clones"] == [] and after["quota"]["used"] == 0


# ---------- rate limit and retries, on a web process limited to 2 generation requests a minute ----------


@pytest.fixture(scope="module")
def limited_web_url(django_db_setup, worker, engine_url):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**_stack_env(engine_url), "TTS_RATE_LIMIT_PER_MINUTE": "2"}
    with running_process("web-limited", web_command(port), env=env, ready_url=f"{url}/api/v1/health"):
        yield url


def use_up_the_limit(client: OuteAI, voice_id: str) -> None:
    """Two requests that pass validation, so they count, but find no credits (402: nothing runs)."""
    for _ in range(2):
        with pytest.raises(OuteAIAPIError) as caught:
            client.generate_speech(text="Counted, then refused.", voice_id=voice_id)
        assert caught.value.status_code == 402


def test_rate_limited_429_and_retries_stop_after_their_limit(
    transactional_db, limited_web_url, user, builtin_voices, voice_id
):
    secret = token_create(user=user, name="limited")[1]
    take_credits(user)
    with OuteAI(secret, base_url=limited_web_url) as client:
        use_up_the_limit(client, voice_id)
        with pytest.raises(OuteAIAPIError) as caught:
            client.generate_speech(text="One too many.", voice_id=voice_id)
    assert_api_error(caught.value, 429, "TTS_RATE_LIMITED")

    # Retries off (the default): one request.
    counter = RequestCounter()
    with counter.sync_client() as http, OuteAI(secret, base_url=limited_web_url, http_client=http) as client:
        with pytest.raises(OuteAIAPIError) as caught:
            client.generate_speech(text="One too many.", voice_id=voice_id)
        assert caught.value.status_code == 429 and counter.count == 1

    # Three retries, each wait capped at 0.3 s (the server asks for up to a minute): four requests, then the 429.
    counter = RequestCounter()
    with (
        counter.sync_client() as http,
        OuteAI(secret, base_url=limited_web_url, http_client=http, max_retries=3, max_retry_delay=0.3) as client,
    ):
        with pytest.raises(OuteAIAPIError) as caught:
            client.stream_speech(text="One too many.", voice_id=voice_id)
        assert_api_error(caught.value, 429, "TTS_RATE_LIMITED")
        assert counter.count == 4
        gaps = [b - a for a, b in zip(counter.times, counter.times[1:], strict=False)]
        assert all(0.29 <= gap < 5 for gap in gaps), gaps

        # Answers other than 429 and 502 are never retried.
        counter.times.clear()
        with pytest.raises(OuteAIAPIError) as caught:
            client.generate_speech(text="Hi", voice_id=UNKNOWN_VOICE)
        assert caught.value.status_code == 404 and counter.count == 1
        assert http.is_closed is False  # a client passed in is left to its owner

    async def retry_async() -> tuple[int, int | None]:
        counter = RequestCounter()
        async with (
            counter.async_client() as http,
            AsyncOuteAI(
                secret,
                base_url=limited_web_url,
                http_client=http,
                max_retries=2,
                retry_backoff=0.05,
                max_retry_delay=0.2,
            ) as client,
        ):
            try:
                await client.generate_speech(text="One too many.", voice_id=voice_id)
            except OuteAIAPIError as error:
                return counter.count, error.status_code
        return counter.count, None

    assert asyncio.run(retry_async()) == (3, 429)
    assert not Generation.objects.exists()


def test_retry_waits_for_retry_after_then_gets_the_next_answer(
    transactional_db, limited_web_url, other_user, builtin_voices, voice_id
):
    secret = token_create(user=other_user, name="limited")[1]
    take_credits(other_user)
    counter = RequestCounter()
    with counter.sync_client() as http, OuteAI(secret, base_url=limited_web_url, http_client=http) as client:
        use_up_the_limit(client, voice_id)
        first_hits = counter.count
        # The server says when the window frees up (about a minute): one retry, after that wait.
        client = OuteAI(secret, base_url=limited_web_url, http_client=http, max_retries=1)
        started = time.monotonic()
        with pytest.raises(OuteAIAPIError) as caught:
            client.generate_speech(text="Counted, then refused.", voice_id=voice_id)
        waited = time.monotonic() - started
    # The retry was let through the limit and found no credits: 402, not retried further.
    assert_api_error(caught.value, 402, "INSUFFICIENT_CREDITS")
    assert counter.count - first_hits == 2
    assert 30 < waited < 90


def test_connection_errors_are_retried_then_raise_outeai_error(secret):
    counter = RequestCounter()
    nowhere = f"http://127.0.0.1:{free_port()}"
    with (
        counter.sync_client() as http,
        OuteAI(secret, base_url=nowhere, http_client=http, max_retries=2) as client,
        pytest.raises(OuteAIError) as caught,
    ):
        client.list_voices()
    assert not isinstance(caught.value, OuteAIAPIError) and nowhere in str(caught.value)
    assert counter.count == 3


# ---------- the legacy TTSClient ----------


def test_legacy_tts_client(secret, web_url, monkeypatch, tmp_path):
    client = legacy.TTSClient(secret, base_url=web_url)
    output = client.generate(
        text="Hello, how are you doing today?", temperature=0.4, speaker={"default": "EN-FEMALE-1-NEUTRAL"}
    )
    assert output.audio_bytes[:4] == b"fLaC" and output.sample_rate == 24_000 and output.duration > 0.5
    assert output.save(tmp_path / "output.flac") == tmp_path / "output.flac"
    audio, rate = soundfile.read(tmp_path / "output.flac", dtype="int16")
    assert rate == 24_000 and audio.ndim == 1 and len(audio) / rate == pytest.approx(output.duration, abs=0.05)

    # The module's API_URL is still honoured, as code for 0.2 sets it; and so is OUTEAI_BASE_URL.
    monkeypatch.setattr(legacy, "API_URL", f"{web_url}/api/v1/tts")
    assert legacy.TTSClient(secret).generate(text="Quiet.", verbose=False).audio_bytes[:4] == b"fLaC"
    monkeypatch.undo()
    monkeypatch.setenv("OUTEAI_BASE_URL", web_url)
    monkeypatch.setenv("OUTEAI_API_KEY", secret)
    assert legacy.TTSClient().api_url == f"{web_url}/api/v1/tts"
    assert legacy.TTSClient(base_url=f"{web_url}/api/v1").api_url == f"{web_url}/api/v1/tts"

    with pytest.raises(ValueError) as caught:
        legacy.TTSClient("oute_not_a_token", base_url=web_url).generate(text="Hi")
    assert isinstance(caught.value, OuteAIAPIError) and "401" in str(caught.value)
    assert caught.value.code == "UNAUTHORIZED"
    with pytest.raises(legacy.LegacyAPIError) as caught:
        client.generate(text="Hi", speaker={"default": "NO-SUCH-SPEAKER"})
    assert (caught.value.status_code, caught.value.code) == (404, "NOT_FOUND")
    for bad in [{"text": ""}, {"text": "Hi", "speaker": {}}, {"text": "Hi", "temperature": 2.0}]:
        with pytest.raises(ValueError):
            client.generate(**bad)
    assert Generation.objects.filter(source="legacy_api", status="done").count() == 2


# ---------- code written for the published SDKs, unchanged ----------


def test_published_sdk_scenarios_run_unchanged_with_this_sdk(transactional_db, web_url, user, builtin_voices):
    """tests/published_sdk/ drives the server with outeai 2.0.0 and 0.2.1; the same scripts, with this SDK."""
    _, secret = token_create(user=user, name="as 2.0.0")
    revoked, revoked_secret = token_create(user=user, name="revoked")
    from accounts.services import token_revoke

    token_revoke(user=user, token_id=revoked.id)
    reports = {}
    for script, args in {"outeai_2.py": [secret, revoked_secret], "outeai_0_2.py": [secret]}.items():
        result = subprocess.run(
            [sys.executable, str(ROOT / "tests" / "published_sdk" / script), web_url, *args],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        reports[script] = json.loads(result.stdout.strip().splitlines()[-1])

    report = reports["outeai_2.py"]
    assert report["health"]["data"]["api_version"] == API_VERSION
    assert report["generate"]["content_type"] == "audio/wav" and report["stream"]["chunks"] >= 2
    for path in [report["generate"]["path"], report["generate_to_file"], report["stream"]["path"]]:
        assert_wav(Path(path).read_bytes())
    for path in report["stream_to_file"] + report["async"]["paths"]:
        assert_wav(Path(path).read_bytes())
    errors = report["errors"]
    assert (errors["unknown_voice"]["status"], errors["unknown_voice"]["code"]) == (404, "NOT_FOUND")
    assert (errors["unknown_model"]["status"], errors["unknown_model"]["code"]) == (400, "VALIDATION_ERROR")
    assert (errors["too_long"]["status"], errors["too_long"]["code"]) == (400, "VALIDATION_ERROR")
    assert (errors["stream_unknown_voice"]["status"], errors["stream_unknown_voice"]["code"]) == (404, "NOT_FOUND")
    assert report["revoked"] == {"status": 401, "code": "UNAUTHORIZED"}

    legacy_report = reports["outeai_0_2.py"]
    audio, rate = soundfile.read(legacy_report["path"], dtype="int16")
    assert rate == 24_000 and audio.ndim == 1 and len(audio) / rate > 1.0
    assert "401" in legacy_report["bad_token"]
    assert Generation.objects.filter(status="done").count() == 9


# ---------- the README ----------


def readme_python_blocks() -> dict[str, str]:
    """The README's Python examples by the heading they follow."""
    blocks, heading = {}, ""
    for match in re.finditer(r"^(#+ [^\n]+)$|^```python\n(.*?)^```", README.read_text(), re.M | re.S):
        if match.group(1):
            heading = match.group(1).lstrip("# ").strip()
        else:
            blocks[heading] = match.group(2)
    return blocks


def test_readme_examples_run_as_written(client, secret, web_url, voice_id, tmp_path):
    blocks = readme_python_blocks()
    assert {"Quick start", "Streaming", "Async client", "Error handling", "Legacy client (outeai 0.2)"} <= set(blocks)
    (tmp_path / "sample.wav").write_bytes(reference_sample(client, voice_id))
    env = {**os.environ, "OUTEAI_API_KEY": secret, "OUTEAI_BASE_URL": web_url}
    failures, waiting = {}, []
    for heading, code in blocks.items():
        code = code.replace(PLACEHOLDER_KEY, secret)
        result = subprocess.run(
            [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=TIMEOUT
        )
        if result.returncode != 0:
            if heading == "Voice clones" and "No such endpoint" in result.stderr:
                waiting.append(heading)
            else:
                failures[heading] = result.stderr[-2000:]
        elif heading == "Error handling":
            assert "404\nNOT_FOUND" in result.stdout
    assert not failures, failures
    for name in ["hello.wav", "output.wav", "chunks.wav", "streamed.wav", "async-output.wav", "async-chunks.wav"]:
        assert_wav((tmp_path / name).read_bytes())
    assert soundfile.read(tmp_path / "output.flac")[1] == 24_000
    if waiting:
        pytest.xfail("the voice-clone endpoints do not exist yet")
    assert_wav((tmp_path / "my-voice.wav").read_bytes())


def test_pip_install_sdk_in_a_fresh_virtualenv_runs_the_quick_start(secret, web_url, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=TIMEOUT)
    python = venv / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(ROOT / "sdk")],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    quick_start = readme_python_blocks()["Quick start"].replace(PLACEHOLDER_KEY, secret)
    result = subprocess.run(
        [str(python), "-c", quick_start],
        cwd=tmp_path,
        env={"PATH": os.environ.get("PATH", ""), "OUTEAI_BASE_URL": web_url},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "EN-FEMALE-1-NEUTRAL" in result.stdout
    assert_wav((tmp_path / "hello.wav").read_bytes())

    report = subprocess.run(
        [
            str(python),
            "-c",
            (
                "import importlib.util, outeai, outeai.api.v1;"
                "print(outeai.__version__, importlib.util.find_spec('requests') is None, outeai.__file__)"
            ),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    version, no_requests, location = report.stdout.split()
    assert (version, no_requests) == ("2.2.0", "True") and str(venv) in location
    assert (Path(location).parent / "py.typed").exists()
