"""Verified takes (engine/verify.py) on the real backends and the real engine process, heard back
by the real pocketsphinx."""

from __future__ import annotations

import threading
from contextlib import closing

import httpx
import pytest

from engine import verify
from engine.client import Audio, Done, EngineClient, Progress, Verified
from engine.protocol import SAMPLE_RATE
from tests.audio_checks import pcm_to_wav, transcribe, word_error_rate

pytestmark = pytest.mark.engine

# Sentences pocketsphinx hears well from both voices (tests/test_api_stack.py), two chunks.
TEXT = "We will meet at the station at noon and take the train to the city. Please call me back when you have a moment."
OTHER = "Purple elephants are dancing slowly on the frozen lake tonight."


def test_word_error_counts_edits_over_the_reference_words():
    assert verify.word_error("Meet me at 10, please!", "meet me at ten please") == 0.0
    assert verify.word_error("the cat sat", "the hat sat down") == pytest.approx(2 / 3)
    assert verify.word_error("the cat sat", "") == 1.0
    # The tests' listener checks are the engine's own.
    assert word_error_rate("the cat sat", "the hat sat down") == verify.word_error("the cat sat", "the hat sat down")


def test_only_english_is_checked():
    assert verify.checkable("en-US") and verify.checkable("en")
    silence = __import__("numpy").zeros(SAMPLE_RATE, dtype="float32")
    unchecked = verify.check("こんにちは", silence, SAMPLE_RATE, language="ja-JP")
    assert (unchecked.checked, unchecked.passed, unchecked.word_error) == (False, None, None)


@pytest.fixture(scope="module")
def piper():
    from engine.piper_engine import PiperEngine

    backend = PiperEngine(threads=2)
    backend.load()
    return backend


def test_a_chunk_that_does_not_match_is_spoken_again_once_and_recorded(piper):
    """Joe says TEXT's first chunk, but it is held against another text: it fails, is spoken once
    more (new noise), still fails, and the take says so."""
    chunk = piper.prepare(TEXT)[0]
    voice = piper.voices["EN-MALE-1-NEUTRAL"]
    spoken = []

    def speak(v):
        spoken.append(v)
        return piper.synthesize_chunk(chunk, v)

    take = verify.take_verified(OTHER, speak, voice, rate=SAMPLE_RATE, language="en-US")
    assert len(spoken) == 2, "a failed chunk is spoken exactly once more"
    assert take.respoken and take.check.checked and take.check.passed is False
    assert take.check.word_error > verify.WORD_ERROR_MAX
    # What is kept is one take of the chunk, really Joe saying it (not both takes glued together).
    heard = transcribe(pcm_to_wav((take.audio * 32767).astype("<i2").tobytes()))
    assert word_error_rate(chunk.text, heard) <= 0.35, heard
    assert take.audio.size / SAMPLE_RATE < 6


def test_a_chunk_that_matches_is_spoken_once(piper):
    chunk = piper.prepare(TEXT)[0]
    spoken = []

    def speak(v):
        spoken.append(v)
        return piper.synthesize_chunk(chunk, v)

    take = verify.take_verified(chunk.text, speak, piper.voices["EN-MALE-1-NEUTRAL"], rate=SAMPLE_RATE, language="en")
    assert len(spoken) == 1 and not take.respoken
    assert take.check.passed is True and take.check.word_error <= verify.WORD_ERROR_MAX


def test_kokoros_retake_is_another_rendition():
    """Kokoro has no noise: the same call twice is the same audio, so its retake is slower."""
    from engine.kokoro_engine import KokoroEngine

    kokoro = KokoroEngine(threads=2)
    kokoro.load()
    voice = kokoro.voices["EN-FEMALE-1-NEUTRAL"]
    chunk = kokoro.prepare("Please call me back when you have a moment.")[0]
    first = kokoro.synthesize_chunk(chunk, voice)
    retake = kokoro.synthesize_chunk(chunk, verify.retake_voice(voice))
    assert verify.retake_voice(voice).speed == pytest.approx(voice.speed * verify.RETAKE_SPEED)
    assert retake.size > first.size * 1.05
    assert verify.check(chunk.text, retake, SAMPLE_RATE, language=voice.language).passed


def _events(client: EngineClient, voice: str, *, text: str = TEXT, verify_on: bool) -> list:
    with closing(client.synthesize(text, voice, verify=verify_on)) as events:
        return list(events)


@pytest.mark.parametrize("voice", ["EN-MALE-1-NEUTRAL", "EN-FEMALE-1-NEUTRAL"])
def test_a_verified_take_reports_each_chunk_and_passes_for_normal_text(engine_url, voice):
    with EngineClient(engine_url, timeout=120) as client:
        events = _events(client, voice, verify_on=True)
    chunks = [e.chunks for e in events if isinstance(e, Progress) and e.chunks][0]
    checks = [e for e in events if isinstance(e, Verified)]
    assert [c.chunk for c in checks] == list(range(1, chunks + 1)) and chunks == 2
    assert all(c.checked and c.passed and c.word_error <= verify.WORD_ERROR_MAX for c in checks), checks
    done = events[-1]
    assert isinstance(done, Done)
    assert done.verification == {
        "status": "passed",
        "checked": 2,
        "unchecked": 0,
        "respoken": sum(c.respoken for c in checks),
        "failed": [],
    }
    # Each chunk's check comes after its audio, before the next chunk starts.
    kinds = [type(e).__name__ for e in events]
    first_check = kinds.index("Verified")
    assert "Audio" in kinds[:first_check] and kinds[first_check + 1] == "Progress"
    pcm = b"".join(e.pcm for e in events if isinstance(e, Audio))
    assert done.seconds == pytest.approx(len(pcm) / 48000, abs=0.01)


def test_text_the_voice_reads_badly_is_respoken_and_still_marked_failed(engine_url):
    """Polish names Joe cannot say in a way an English recogniser follows: the chunk is spoken
    twice, the better take sent once (its seconds are the stream's), and the failure recorded."""
    text = "Grzegorz Brzęczyszczykiewicz z Chrząszczyżewoszyc."
    with EngineClient(engine_url, timeout=120) as client:
        events = _events(client, "EN-MALE-1-NEUTRAL", text=text, verify_on=True)
    checks = [e for e in events if isinstance(e, Verified)]
    assert len(checks) == 1
    assert checks[0].respoken and checks[0].passed is False and checks[0].word_error > verify.WORD_ERROR_MAX
    done = events[-1]
    assert done.verification["status"] == "failed" and done.verification["failed"] == [1]
    assert done.verification["respoken"] == 1
    pcm = b"".join(e.pcm for e in events if isinstance(e, Audio))
    assert done.seconds == pytest.approx(len(pcm) / 48000, abs=0.01) and 1.0 < done.seconds < 8


def test_without_verify_nothing_is_checked(engine_url):
    with EngineClient(engine_url, timeout=120) as client:
        events = _events(client, "EN-MALE-1-NEUTRAL", verify_on=False)
    assert not [e for e in events if isinstance(e, Verified)]
    assert isinstance(events[-1], Done) and events[-1].verification is None


@pytest.mark.parametrize("value", ["yes", 1])
def test_verify_must_be_a_boolean(engine_url, value):
    response = httpx.post(
        engine_url + "/synthesize", json={"text": "Hello.", "voice": "EN-MALE-1-NEUTRAL", "verify": value}
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_verify"


def test_cancel_during_a_check_stops_cleanly(piper):
    cancelled = threading.Event()
    chunk = piper.prepare(TEXT)[0]

    def speak(v):
        cancelled.set()  # the caller went away while this chunk was spoken
        return piper.synthesize_chunk(chunk, v)

    take = verify.take_verified(OTHER, speak, piper.voices["EN-MALE-1-NEUTRAL"], rate=SAMPLE_RATE, language="en")
    assert not take.respoken  # no retake for a caller who left
