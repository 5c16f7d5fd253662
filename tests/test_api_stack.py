"""The API through the running stack (uvicorn, a Celery worker, the CPU engine), called over HTTP as
a developer's program would."""

import asyncio
import base64
import io
import json

import httpx
import pytest
import soundfile
from outeai import AsyncOuteAI, OuteAI

from accounts.services import token_create
from studio.models import Generation
from tests.audio_checks import rms_dbfs, transcribe, wav_info, word_error_rate, word_segments
from tests.waiting import generation_wait_finished

pytestmark = pytest.mark.stack

# Sentences pocketsphinx hears reliably in both voices (measured: word error rate 0 to 0.3 over
# repeated syntheses), so the checks below judge the product, not the recogniser's luck.
LONG_TEXT = " ".join(
    [
        "We will meet at the station at noon and take the train to the city.",
        "Please call me back when you have a moment to talk about the plan.",
        "Good morning, I would like to order a cup of coffee and a piece of cake.",
        "We will meet at the station at noon and take the train to the city.",
        "Please call me back when you have a moment to talk about the plan.",
        "Good morning, I would like to order a cup of coffee and a piece of cake.",
    ]
)


@pytest.fixture
def api(transactional_db, web_url, user, builtin_voices):
    token, secret = token_create(user=user, name="stack tests")
    with httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {secret}"}, timeout=120) as client:
        client.token = token
        client.secret = secret
        yield client


def speech(builtin_voices, text: str, voice: str = "EN-FEMALE-1-NEUTRAL", **extra) -> dict:
    return {"text": text, "voice_id": str(builtin_voices[voice].id), "model_name": "outetts_1_pro", **extra}


def test_tts_non_stream_returns_intelligible_wav_and_records_the_generation(api, builtin_voices, user):
    text = "We will meet at the station at noon and take the train to the city."
    response = api.post("/api/v1/tts_non_stream", json=speech(builtin_voices, text))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    rate, channels, width, seconds = wav_info(response.content)
    assert (rate, channels, width) == (24_000, 1, 2) and 1.5 < seconds < 6
    assert rms_dbfs(response.content) > -35
    assert word_error_rate(text, transcribe(response.content)) <= 0.35

    generation = Generation.objects.get()
    assert (generation.user, generation.api_token, generation.source) == (user, api.token, "api")
    assert generation.text == text and generation.voice_name == "EN-FEMALE-1-NEUTRAL"
    assert generation.status == "done" and generation.seconds == pytest.approx(seconds, abs=0.01)


def test_tts_with_timestamps_says_when_each_word_is_said_as_an_aligner_hears_it(api, builtin_voices):
    """Two sentences (two chunks) from Joe: the words of the text, in order, with offsets into it,
    inside the audio, and where pocketsphinx's forced alignment puts them (median start ≤ 80 ms)."""
    text = "We will meet at the station at noon. Please call me back when you have a moment."
    response = api.post("/api/v1/tts_with_timestamps", json=speech(builtin_voices, text, "EN-MALE-1-NEUTRAL"))
    assert response.status_code == 200 and response.headers["content-type"] == "application/json", response.text
    data = response.json()["data"]
    audio = base64.b64decode(data["audio_base64"])
    rate, channels, _, seconds = wav_info(audio)
    assert (rate, channels, data["response_format"], data["text"]) == (24_000, 1, "wav", text)
    assert data["seconds"] == pytest.approx(seconds, abs=0.01)
    words = data["words"]
    expected = text.replace(".", "").split()
    assert [w["text"] for w in words] == expected
    assert [text[w["char_start"] : w["char_end"]] for w in words] == expected
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and starts[0] >= 0 and words[-1]["end"] <= seconds + 1e-3
    heard = word_segments(audio, text)
    assert [h[0] for h in heard] == [w.lower() for w in expected]
    errors = sorted(abs(start - h[1]) for start, h in zip(starts, heard, strict=True))
    assert errors[len(errors) // 2] <= 0.08, list(zip(expected, starts, heard, strict=True))
    # The same words are kept with the generation (its captions come from them).
    kept = [{key: value for key, value in w.items() if key != "chunk"} for w in Generation.objects.get().words]
    assert kept == words

    # The repo SDK, sync and async, gives the same words with the audio.
    voice_id = str(builtin_voices["EN-MALE-1-NEUTRAL"].id)
    with OuteAI(api.secret, base_url=str(api.base_url)) as client:
        result = client.generate_speech_with_timestamps(text=text, voice_id=voice_id, response_format="mp3")
    assert result.content_type == "audio/mpeg" and result.text == text
    assert [w["text"] for w in result.words] == expected

    async def timed_async() -> list[str]:
        async with AsyncOuteAI(api.secret, base_url=str(api.base_url)) as client:
            result = await client.generate_speech_with_timestamps(text=text, voice_id=voice_id)
            assert wav_info(result.wav_bytes)[3] >= result.words[-1]["end"]
            return [w["text"] for w in result.words]

    assert asyncio.run(timed_async()) == expected


def test_openai_style_field_names_are_accepted(api, builtin_voices):
    body = {"input": "Aliases work too.", "voice": "EN-MALE-1-NEUTRAL", "model": "outetts_1_pro"}
    response = api.post("/api/v1/tts_non_stream", json=body)
    assert response.status_code == 200, response.text
    assert wav_info(response.content)[3] > 0.5


def test_tts_stream_sends_audio_while_the_generation_is_still_running(api, builtin_voices):
    body = speech(builtin_voices, LONG_TEXT, voice="EN-MALE-1-NEUTRAL")
    with api.stream("POST", "/api/v1/tts_stream", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"] == "audio/wav"
        chunks = response.iter_bytes()
        first = b""
        while len(first) < 44 + 4800:
            first += next(chunks)
        assert first[:4] == b"RIFF" and first[8:12] == b"WAVE"
        generation = Generation.objects.get()
        # The header and the first audio are here, yet the engine is still speaking.
        assert generation.status == Generation.Status.RUNNING
        assert generation.chunk < generation.chunks == 7  # 6 sentences, the first said as two
        body = first + b"".join(chunks)
    rate, channels, width, seconds = wav_info(body)
    assert (rate, channels, width) == (24_000, 1, 2)
    generation.refresh_from_db()
    assert generation.status == "done" and seconds == pytest.approx(generation.seconds, abs=0.01)
    assert word_error_rate(LONG_TEXT, transcribe(body)) <= 0.35


def test_a_caller_who_leaves_a_stream_cancels_the_generation(api, builtin_voices):
    # The longest text allowed: about five minutes of speech, so that even on a busy machine the
    # engine is far from done when the caller leaves after the first audio.
    text = " ".join([LONG_TEXT] * 12)
    with api.stream("POST", "/api/v1/tts_stream", json=speech(builtin_voices, text)) as response:
        assert response.status_code == 200
        next(response.iter_bytes())
    generation = generation_wait_finished(Generation.objects.get().id, timeout=120)
    assert generation.status == Generation.Status.CANCELLED
    assert generation.chunk < generation.chunks
    assert 0 < generation.seconds < 120, "it stopped early and kept what it produced"


def test_engine_outage_is_502_and_the_engine_recovers(api, builtin_voices, engine_process):
    engine_process.stop()
    try:
        for path in ["/api/v1/tts_stream", "/api/v1/tts_non_stream"]:
            response = api.post(path, json=speech(builtin_voices, "Is anyone there?"))
            assert response.status_code == 502, response.text
            assert response.json()["code"] == "TTS_PROVIDER_UNAVAILABLE"
        assert all(g.status == "failed" and g.seconds == 0 for g in Generation.objects.all())
    finally:
        engine_process.start()
    response = api.post("/api/v1/tts_non_stream", json=speech(builtin_voices, "Back again."))
    assert response.status_code == 200 and wav_info(response.content)[3] > 0.3


def test_legacy_tts_streams_progress_then_base64_flac(api, builtin_voices, web_url):
    body = {
        "token": api.secret,
        "text": "Hello, how are you doing today? I am fine, thank you.",
        "speaker": {"default": "EN-FEMALE-1-NEURAL"},  # the published docs' spelling
        "temperature": 0.4,
    }
    with httpx.stream("POST", f"{web_url}/api/v1/tts", json=body, timeout=120) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line.strip()]
    events = [json.loads(line) for line in lines]
    statuses = [event for event in events if "generation_status" in event]
    assert statuses and all(event["generation_status"] == "Generating linguistic features" for event in statuses[1:])
    chunks = [event for event in statuses if "text_chunks" in event]
    assert [event["current_text_chunk"] for event in chunks] == [1, 2] and chunks[0]["text_chunks"] == 2
    final = events[-1]["data"]
    assert final["request_finished"] is True
    audio, rate = soundfile.read(io.BytesIO(base64.b64decode(final["audio_bytes"])), dtype="int16")
    assert rate == 24_000 and audio.ndim == 1
    assert len(audio) / rate == pytest.approx(final["duration"], abs=0.01)
    assert Generation.objects.get().source == "legacy_api"


def test_first_request_on_a_cold_engine_says_it_is_warming_up(transactional_db, user, builtin_voices, worker):
    """A fresh engine process, loaded lazily: the legacy stream reports "Warming up TTS model"."""
    from harness.processes import engine_command, free_port, running_process
    from tests.conftest import _stack_env, private_stack

    engine_port = free_port()
    engine_url = f"http://127.0.0.1:{engine_port}"
    _, secret = token_create(user=user, name="cold")
    with (
        running_process(
            "cold-engine", engine_command(engine_port), env=_stack_env(engine_url), ready_url=f"{engine_url}/health"
        ),
        private_stack(engine_url) as (web_url, _),
    ):
        assert httpx.get(f"{engine_url}/health").json()["warm"] is False
        body = {"token": secret, "text": "Warm up, please.", "speaker": {"default": "EN-MALE-1-NEUTRAL"}}
        response = httpx.post(f"{web_url}/api/v1/tts", json=body, timeout=120)
        assert response.status_code == 200
        assert '"generation_status": "Warming up TTS model"' in response.text.splitlines()[0]
        assert httpx.get(f"{engine_url}/health").json()["warm"] is True
