"""The product's built-in voices on two kinds of engine: a job goes to an engine that has its voice
(ENGINE_URLS may mix engines serving different voices), and a built-in voice that now sounds
different gets a new preview."""

import pytest
from django.core.files.base import ContentFile

from core.audio import wav_from_pcm
from harness.processes import engine_start
from studio.job.run import generation_run
from studio.models import Generation
from studio.services import generation_create, session_create
from tests.audio_checks import base_f0, median_f0, transcribe, word_error_rate
from voices.models import Voice
from voices.services import voice_preview_make, voices_sync_builtin

SENTENCE = "We will meet at the station at noon and take the train to the city."


@pytest.fixture
def split_engines():
    """One engine with Piper only (Joe, clones), one with Kokoro only (the other built-ins)."""
    started = {kind: engine_start(f"engine-{kind}", ENGINE_BACKENDS=kind) for kind in ("piper", "kokoro")}
    yield started
    for engine in started.values():
        engine.stop()


@pytest.mark.stack
@pytest.mark.timeout(600)
def test_each_generation_is_spoken_by_an_engine_that_has_its_voice(
    user, builtin_voices, settings, split_engines, monkeypatch
):
    """The job's own code (run here, with `db`, so the stack's worker does not take it) against two
    real engines, the Kokoro one listed first: each voice is spoken, and by the right engine."""
    settings.ENGINE_URLS = [split_engines["kokoro"].url, split_engines["piper"].url]
    # With `db` the row lives in this test's transaction: the heartbeat's own connection cannot see
    # it and would take the job for lost (given back to another worker) after its first beat.
    monkeypatch.setattr("studio.job.run.HEARTBEAT_EVERY", 3600.0)
    session = session_create(owner=user)
    pitch = {}
    for name in ("EN-FEMALE-1-NEUTRAL", "EN-MALE-1-NEUTRAL", "EN-MALE-2-NEUTRAL"):
        generation = generation_create(user=user, session=session, text=SENTENCE, voice_id=builtin_voices[name].id)
        generation_run(generation_id=generation.id)
        generation.refresh_from_db()
        assert generation.status == Generation.Status.DONE, (name, generation.error)
        wav = generation.audio.read()
        # Spoken, not just sounded: silence or another text scores about 1. Each voice's
        # intelligibility is measured over many sentences in tests/engine/; on this one sentence
        # EN-MALE-2's takes vary (Kokoro's generator adds noise to its source) and one scored 0.53.
        assert word_error_rate(SENTENCE, transcribe(wav)) <= 0.75, name
        # Median and base pitch: Joe's median follows his intonation (up to 178 Hz on one sentence,
        # tests/audio_checks.base_f0), his base stays under 125 Hz.
        pitch[name] = (median_f0(wav), base_f0(wav))
    print(pitch)
    assert pitch["EN-FEMALE-1-NEUTRAL"][0] >= 165
    assert pitch["EN-MALE-1-NEUTRAL"][1] < 150 and pitch["EN-MALE-2-NEUTRAL"][1] < 150


def test_a_builtin_voice_that_sounds_different_now_gets_a_new_preview(db, django_capture_on_commit_callbacks):
    voices = {voice.speaker_name: voice for voice in voices_sync_builtin()}
    old_wav = wav_from_pcm(b"\0\0" * 2400)
    for voice in voices.values():
        voice.preview.save(f"{voice.id}.wav", ContentFile(old_wav), save=True)
    # The female voice as it was before Kokoro spoke it.
    Voice.objects.filter(id=voices["EN-FEMALE-1-NEUTRAL"].id).update(description="Warm, even female voice (US English)")
    old_file = voices["EN-FEMALE-1-NEUTRAL"].preview
    storage, name = old_file.storage, old_file.name
    with django_capture_on_commit_callbacks(execute=True):
        voices_sync_builtin()
    female = Voice.objects.get(id=voices["EN-FEMALE-1-NEUTRAL"].id)
    assert not female.preview, "the WORLD voice's preview would be played for the Kokoro voice"
    assert not storage.exists(name)
    joe = Voice.objects.get(id=voices["EN-MALE-1-NEUTRAL"].id)
    assert joe.preview, "a voice that did not change keeps its preview"


@pytest.mark.stack
@pytest.mark.timeout(300)
def test_a_kokoro_voice_preview_is_recorded_by_the_engine_that_has_it(db, settings, split_engines):
    settings.ENGINE_URLS = [split_engines["piper"].url, split_engines["kokoro"].url]
    female = next(v for v in voices_sync_builtin() if v.speaker_name == "EN-FEMALE-1-NEUTRAL")
    voice_preview_make(voice_id=str(female.id))
    female.refresh_from_db()
    wav = female.preview.read()
    assert median_f0(wav) >= 165
    assert word_error_rate("Hello! This is how I sound. I hope you like my voice.", transcribe(wav)) <= 0.4
