"""Issue 17, the streamed variant: POST /api/v1/tts_stream_with_timestamps through the running stack
(uvicorn, a Celery worker, the CPU engine), read as a developer's program would, raw and through
the repo SDK."""

import asyncio
import base64
import itertools
import json
import string
import time

import httpx
import pytest
from outeai import AsyncOuteAI, OuteAI, OuteAIAPIError, SpeechAudio, SpeechDone, SpeechWords

from accounts.services import token_create
from billing.pricing import credits_format
from billing.selectors import wallet_for
from studio.models import Generation
from tests import test_stream_failures as faults
from tests.audio_checks import audio_decoded_wav, wav_info
from tests.waiting import generation_wait_finished

pytestmark = pytest.mark.stack

VOICE = "EN-MALE-1-NEUTRAL"  # Joe (Piper): words timed by the engine
# Three sentences: four chunks (Joe says the first phrase, "We will meet", as a chunk of its own),
# so the words of each come while the next is still being made.
TEXT = (
    "We will meet at the station at noon. Please call me back when you have a moment. "
    "Good morning, I would like to order a cup of coffee."
)
EXPECTED = [word.strip(string.punctuation) for word in TEXT.split()]
PATH = "/api/v1/tts_stream_with_timestamps"
# The stack of tests/test_stream_failures.py, whose engine is killed while it speaks, and its text.
fault_engine, fault_web, engine_killed_mid_text = faults.fault_engine, faults.fault_web, faults.engine_killed_mid_text
FAULT_TEXT = faults.TEXT


@pytest.fixture
def secret(transactional_db, user, builtin_voices) -> str:
    return token_create(user=user, name="stream words")[1]


@pytest.fixture
def api(secret, web_url):
    with httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {secret}"}, timeout=120) as client:
        yield client


def body(builtin_voices, text: str = TEXT, voice: str = VOICE, **extra) -> dict:
    return {"text": text, "voice_id": str(builtin_voices[voice].id), "model_name": "outetts_1_pro", **extra}


def wav_seconds_in(audio: bytes) -> float:
    """Seconds of PCM in a streamed WAV's first bytes (its header has no sizes yet)."""
    data = audio.find(b"data")
    return max(0, len(audio) - (data + 8)) / 48_000 if data >= 0 else 0.0


def test_the_stream_gives_audio_then_each_chunks_words_then_done_with_the_charge(api, builtin_voices, user):
    events, audio, heard_at = [], bytearray(), []
    with api.stream("POST", PATH, json=body(builtin_voices)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"] == "application/x-ndjson"
        for line in response.iter_lines():
            event = json.loads(line)
            events.append(event)
            if event["type"] == "audio":
                assert event["format"] == "wav"
                audio += base64.b64decode(event["audio_base64"])
            # How much audio had come when each event came (the words' latency is read from it).
            heard_at.append(wav_seconds_in(bytes(audio)))

    generation = Generation.objects.get()
    assert generation.status == "done" and response.headers["X-Generation-Id"] == str(generation.id)
    # The pieces joined are one file, which ffmpeg decodes to the take's length.
    rate, channels, _, seconds = wav_info(audio_decoded_wav(bytes(audio), "wav"))
    assert (rate, channels) == (24_000, 1) and seconds == pytest.approx(generation.seconds, abs=0.02)

    assert [e["type"] for e in events].count("done") == 1 and events[-1]["type"] == "done"
    done = events[-1]
    assert done["generation_id"] == str(generation.id) and done["text"] == TEXT
    assert done["seconds"] == pytest.approx(generation.seconds, abs=1e-3)
    assert generation.cost > 0 and done["credits_charged"] == credits_format(generation.cost)
    assert wallet_for(user).held == 0

    # Every word of the text once, in order, with its offsets into the text, within the audio.
    word_events = [(i, e) for i, e in enumerate(events) if e["type"] == "words"]
    assert [e["chunk"] for _, e in word_events] == [1, 2, 3, 4] == sorted({w["chunk"] for w in generation.words})
    words = [w for _, e in word_events for w in e["words"]]
    assert [w["text"] for w in words] == EXPECTED
    assert [TEXT[w["char_start"] : w["char_end"]] for w in words] == EXPECTED
    starts = [w["start"] for w in words]
    assert starts == sorted(starts) and starts[0] >= 0 and words[-1]["end"] <= seconds + 1e-3
    assert words == [{k: v for k, v in w.items() if k != "chunk"} for w in generation.words]

    # Each chunk's words come after its audio and before the next chunk's speech: the relay carries
    # them in the entry of their audio.
    first_word = {e["chunk"]: e["words"][0]["start"] for _, e in word_events}
    for index, event in word_events:
        chunk = event["chunk"]
        assert heard_at[index] >= event["words"][-1]["end"] - 1e-3, f"chunk {chunk}'s words before its audio"
        if chunk + 1 in first_word:
            assert heard_at[index] <= first_word[chunk + 1] + 1e-3, f"chunk {chunk}'s words after the next's speech"
    # An audio piece came between each chunk's words and the next's (they are not held to the end).
    positions = [index for index, _ in word_events]
    assert all(any(events[i]["type"] == "audio" for i in range(a, b)) for a, b in itertools.pairwise(positions))


def test_the_sdk_streams_the_same_events_sync_and_async(secret, web_url, builtin_voices):
    voice_id = str(builtin_voices[VOICE].id)

    def summary(events) -> tuple:
        assert isinstance(events[-1], SpeechDone) and sum(isinstance(e, SpeechDone) for e in events) == 1
        words = [
            (e.chunk, [(w["text"], w["char_start"], w["char_end"]) for w in e.words])
            for e in events
            if isinstance(e, SpeechWords)
        ]
        audio = b"".join(e.audio for e in events if isinstance(e, SpeechAudio))
        return words, audio, events[-1]

    with (
        OuteAI(secret, base_url=web_url) as client,
        client.stream_speech_with_timestamps(text=TEXT, voice_id=voice_id) as stream,
    ):
        sync_words, sync_audio, sync_done = summary(list(stream))

    async def listen() -> list:
        async with (
            AsyncOuteAI(secret, base_url=web_url) as client,
            client.stream_speech_with_timestamps(text=TEXT, voice_id=voice_id, response_format="mp3") as stream,
        ):
            return [event async for event in stream]

    async_words, async_audio, async_done = summary(asyncio.run(listen()))

    assert sync_words == async_words and [text for _, chunk in sync_words for text, _, _ in chunk] == EXPECTED
    rows = {str(g.id): g for g in Generation.objects.all()}
    assert set(rows) == {sync_done.generation_id, async_done.generation_id}
    for done, audio, name in [(sync_done, sync_audio, "wav"), (async_done, async_audio, "mp3")]:
        row = rows[done.generation_id]
        assert done.text == TEXT and done.credits_charged == credits_format(row.cost)
        assert row.response_format == name
        # mp3 carries the encoder's priming and padding: within a frame or two.
        assert wav_info(audio_decoded_wav(audio, name))[3] == pytest.approx(
            row.seconds, abs=0.02 if name == "wav" else 0.08
        )


def test_refusals_come_before_any_stream_in_the_envelope(api, secret, web_url, builtin_voices, user):
    unknown = {**body(builtin_voices), "voice_id": "00000000-0000-0000-0000-000000000000"}
    for refused, status, code in [
        (api.post(PATH, json=unknown), 404, "NOT_FOUND"),
        (httpx.post(f"{web_url}{PATH}", json=body(builtin_voices), timeout=30), 401, "UNAUTHORIZED"),
        (api.post(PATH, json={**body(builtin_voices), "speed": 9}), 400, "VALIDATION_ERROR"),
    ]:
        assert refused.status_code == status and refused.headers["content-type"] == "application/json"
        assert refused.json()["success"] is False and refused.json()["code"] == code, refused.text
    with OuteAI(secret, base_url=web_url) as client, pytest.raises(OuteAIAPIError) as raised:
        client.stream_speech_with_timestamps(text=TEXT, voice_id=unknown["voice_id"])
    assert (raised.value.status_code, raised.value.code) == (404, "NOT_FOUND")
    # Nothing was stored or charged.
    assert not Generation.objects.exists() and wallet_for(user).held == 0


def test_a_caller_who_leaves_the_stream_cancels_the_generation(api, builtin_voices):
    text = " ".join([TEXT] * 30)  # minutes of speech: far from done when the caller leaves
    with api.stream("POST", PATH, json=body(builtin_voices, text)) as response:
        assert response.status_code == 200
        assert json.loads(next(response.iter_lines()))["type"] == "audio"
    started = time.monotonic()
    generation = generation_wait_finished(Generation.objects.get().id, timeout=120)
    assert generation.status == Generation.Status.CANCELLED, time.monotonic() - started
    assert generation.chunk < generation.chunks and 0 < generation.seconds < 120


def test_a_finished_stream_is_replayed_whole_for_its_idempotency_key(api, builtin_voices):
    key = {"Idempotency-Key": "stream-words-1"}
    first = api.post(PATH, json=body(builtin_voices, "Once is enough."), headers=key)
    again = api.post(PATH, json=body(builtin_voices, "Once is enough."), headers=key)
    assert first.status_code == again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    assert again.content == first.content and json.loads(first.text.splitlines()[-1])["type"] == "done"
    assert Generation.objects.count() == 1


def test_a_take_that_fails_after_the_stream_began_says_why_in_band_then_is_cut_off(
    fault_engine,
    fault_web,
    transactional_db,
    builtin_voices,
    user,
):
    secret = token_create(user=user, name="stream words faults")[1]
    lines = []
    with (
        engine_killed_mid_text(fault_engine) as killed,
        httpx.stream(
            "POST",
            f"{fault_web}{PATH}",
            json=body(builtin_voices, FAULT_TEXT),
            headers={"Authorization": f"Bearer {secret}"},
            timeout=120,
        ) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match=faults.CUT_OFF):
            lines.extend(json.loads(line) for line in response.iter_lines())
    assert killed.is_set()
    generation = Generation.objects.get()
    assert generation.status == "failed"
    kinds = [line["type"] for line in lines]
    assert kinds[0] == "audio" and "words" in kinds and "done" not in kinds
    assert lines[-1] == {"type": "error", "code": generation.error_code, "message": generation.error}

    # The SDK raises the take's error, after the events that came before it.
    events = []
    with (
        engine_killed_mid_text(fault_engine),
        OuteAI(secret, base_url=fault_web) as client,
        pytest.raises(OuteAIAPIError) as raised,
        client.stream_speech_with_timestamps(text=FAULT_TEXT, voice_id=str(builtin_voices[VOICE].id)) as stream,
    ):
        events.extend(stream)
    assert raised.value.code == "TTS_PROVIDER_UNAVAILABLE" and any(isinstance(e, SpeechWords) for e in events)
