"""One generation through the real stack: the service the Studio calls, a Celery worker, the CPU
engine, storage. The audio is checked as a listener would hear it."""

import pytest

from core.audio import SAMPLE_RATE
from studio.models import Generation
from studio.services import generation_create, session_create
from tests.audio_checks import base_f0, rms_dbfs, transcribe, wav_info, word_error_rate
from tests.waiting import generation_wait_finished

pytestmark = pytest.mark.stack

SENTENCE = "We will meet at the station at noon and take the train to the city."


@pytest.mark.parametrize("voice_name", ["EN-FEMALE-1-NEUTRAL", "EN-MALE-1-NEUTRAL"])
def test_generation_is_stored_as_intelligible_24khz_speech(stack, user, builtin_voices, voice_name):
    session = session_create(owner=user)
    generation = generation_create(user=user, session=session, text=SENTENCE, voice_id=builtin_voices[voice_name].id)
    assert generation.status == Generation.Status.QUEUED

    generation = generation_wait_finished(generation.id)
    assert generation.status == Generation.Status.DONE, generation.error
    wav = generation.audio.read()

    rate, channels, width, seconds = wav_info(wav)
    assert (rate, channels, width) == (SAMPLE_RATE, 1, 2)
    # Fifteen words at an ordinary speaking pace: roughly three to five seconds.
    assert 2.0 < seconds < 7.0
    assert generation.seconds == pytest.approx(seconds, abs=0.01)
    assert rms_dbfs(wav) > -35, "the audio is (nearly) silent"
    heard = transcribe(wav)
    assert word_error_rate(SENTENCE, heard) <= 0.35, heard
    # The stored waveform covers the audio at 50 peaks a second.
    assert abs(len(generation.peaks) - seconds * 50) <= 1
    assert max(generation.peaks) > 0.3
    # A man's voice or a woman's, by base pitch (see base_f0 for the ranges measured).
    if voice_name.startswith("EN-FEMALE"):
        assert base_f0(wav) > 131
    else:
        assert base_f0(wav) < 131


def test_progress_is_recorded_chunk_by_chunk(stack, user, builtin_voices):
    text = "First, a short sentence. Then a second one follows. And finally, the third sentence ends it."
    session = session_create(owner=user)
    generation = generation_create(
        user=user, session=session, text=text, voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id
    )
    generation = generation_wait_finished(generation.id)
    assert generation.status == Generation.Status.DONE, generation.error
    assert (generation.chunk, generation.chunks) == (4, 4)  # "First," is a chunk of its own
    assert generation.started_at <= generation.finished_at


def test_engine_outage_fails_the_generation_with_a_plain_reason(user, builtin_voices, settings):
    """The job's own code, run here against a port where no engine listens: the outage is real.
    (With `db`, the row is never committed, so the stack's worker does not pick the job up.)"""
    from harness.processes import free_port
    from studio.job.run import generation_run

    settings.ENGINE_URL = f"http://127.0.0.1:{free_port()}"
    settings.ENGINE_URLS = [settings.ENGINE_URL]  # the pool reads ENGINE_URLS
    session = session_create(owner=user)
    generation = generation_create(
        user=user, session=session, text="Nobody will hear this.", voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id
    )
    generation_run(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == Generation.Status.FAILED
    assert "unavailable" in generation.error
    assert not generation.audio
    assert generation.finished_at is not None
