"""Kokoro clones: the F0-scale input patched into the graph, Kokoro speaker profiles spoken by a
real engine process, the quick profile ``POST /speakers/encode`` makes, and the slow fit
(voices/fitting.py) judged on sentences it never heard.

References are Festival's recordings of real speakers (never the engine's own voices)."""

from __future__ import annotations

import json

import httpx
import numpy as np
import pytest

from engine import kokoro_profile as kp
from engine.client import Audio, Done, EngineClient
from engine.kokoro_engine import KokoroEngine, model_file, patched_model_file
from tests.audio_checks import festival_wav, median_f0, pcm_to_wav, rms_dbfs, transcribe, wav_info, word_error_rate
from tests.engine.test_clone import REFERENCE_TEXT, SPEAKERS, _require_festival

pytestmark = [pytest.mark.engine, pytest.mark.timeout(900)]

TEXT = "She bought fresh bread and a bottle of milk on the way home."
PROFILE = {  # the built-in female voice's recipe, as a profile
    "kind": "kokoro",
    "version": 1,
    "timbre": {"jf_gongitsune": 0.7, "jm_kumo": 0.3},
    "prosody": "jf_gongitsune",
    "offset": [],
    "f0_scale": 1.0,
    "speed": 0.9,
}


def say(client: EngineClient, profile: dict, text: str = TEXT) -> bytes:
    events = list(client.synthesize(text, profile=profile))
    assert isinstance(events[-1], Done)
    return b"".join(e.pcm for e in events if isinstance(e, Audio))


@pytest.fixture(scope="module")
def slt() -> bytes:
    voice, package, _ = SPEAKERS["slt"]
    _require_festival(voice, package)
    return festival_wav(REFERENCE_TEXT, voice)


def test_the_patched_graph_at_scale_one_sounds_as_before():
    """Built-in voices speak through the patched graph at f0_scale 1.0: the same audio as the
    shipped graph's, and at 1.3 not."""
    import onnxruntime

    engine = KokoroEngine(threads=1)
    voice = engine.voices["EN-FEMALE-1-NEUTRAL"]
    tokens = engine.prepare(TEXT)[0].sentences[0]
    style = voice.style_table(kp.load_packs())[len(tokens) - 1].reshape(1, 256)
    feed = {
        "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
        "style": style,
        "speed": np.array([voice.speed], dtype=np.float32),
    }
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads = 1
    shipped = onnxruntime.InferenceSession(str(model_file()), opts, providers=["CPUExecutionProvider"])
    patched = onnxruntime.InferenceSession(str(patched_model_file()), opts, providers=["CPUExecutionProvider"])
    before = shipped.run(None, feed)[0].reshape(-1)
    same = patched.run(None, {**feed, "f0_scale": np.array([1.0], dtype=np.float32)})[0].reshape(-1)
    higher = patched.run(None, {**feed, "f0_scale": np.array([1.3], dtype=np.float32)})[0].reshape(-1)
    assert same.shape == before.shape and np.allclose(same, before, atol=1e-4)
    assert np.abs(higher[: before.size] - before[: higher.size]).max() > 0.05


def test_the_engine_speaks_a_kokoro_profile_and_its_f0_scale(client):
    pcm = say(client, PROFILE)
    rate, channels, width, seconds = wav_info(pcm_to_wav(pcm))
    assert (rate, channels, width) == (24000, 1, 2) and 1.5 < seconds < 8.0
    assert rms_dbfs(pcm) > -35
    heard = transcribe(pcm_to_wav(pcm))
    print(f"heard {heard!r}")
    assert word_error_rate(TEXT, heard) <= 0.3
    higher = say(client, {**PROFILE, "f0_scale": 1.3})
    f0, f0_high = median_f0(pcm_to_wav(pcm)), median_f0(pcm_to_wav(higher))
    print(f"median F0 at 1.0 {f0:.0f} Hz, at 1.3 {f0_high:.0f} Hz")
    assert f0_high > 1.2 * f0
    # An offset along the timbre directions changes the voice, and it still speaks.
    moved = say(client, {**PROFILE, "offset": [1.5, -1.0, 0.5]})
    assert moved != pcm and word_error_rate(TEXT, transcribe(pcm_to_wav(moved))) <= 0.5


@pytest.mark.parametrize(
    "change",
    [
        {"version": 2},
        {"version": True},
        {"kind": "robot"},
        {"kind": 7},
        {"timbre": {}},
        {"timbre": {"af_heart": 1.0}},
        {"timbre": {"jm_kumo": 1.7}},
        {"timbre": {"jm_kumo": 0.2}},  # the weights must add up to about one voice
        {"timbre": {"jm_kumo": "all"}},
        {"prosody": "jf_nobody"},
        {"offset": [0.0] * 13},
        {"offset": [9.0]},
        {"offset": [float("nan")]},
        {"offset": "none"},
        {"f0_scale": 0.1},
        {"f0_scale": 1e9},
        {"f0_scale": None},
        {"speed": 3.0},
        {"extra": 1},
    ],
)
def test_a_bad_kokoro_profile_is_refused_before_the_stream(engine_url, change):
    body = json.dumps({"text": "Hello there.", "profile": {**PROFILE, **change}}, allow_nan=True)
    r = httpx.post(engine_url + "/synthesize", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert r.status_code == 400, r.text
    assert r.json()["code"] == "invalid_profile" and r.json()["message"]


def test_encode_gives_a_kokoro_quick_profile_with_the_speakers_pitch(client, slt):
    answer = client.encode_speaker(slt)
    profile = answer["profile"]
    assert profile["kind"] == "kokoro"  # the default: as natural as Joe, where WORLD's buzzes
    assert sorted(p["kind"] for p in answer["candidates"]) == ["kokoro", "world"]
    assert profile in answer["candidates"] and len(json.dumps(profile)) < 1024
    assert answer["analysis"]["base"] == "female"
    reference = median_f0(slt)
    clone = median_f0(pcm_to_wav(b"".join(say(client, profile, text) for text in (TEXT, REFERENCE_TEXT[:60]))))
    built_in = median_f0(pcm_to_wav(say(client, {**PROFILE, "timbre": {"jf_gongitsune": 1.0}})))
    print(f"SLT {reference:.0f} Hz, its quick clone {clone:.0f} Hz, the built-in female voice {built_in:.0f} Hz")
    assert abs(clone - reference) <= 0.12 * reference
    assert abs(clone - reference) < abs(built_in - reference)


def test_a_short_fit_is_never_worse_than_its_start_on_held_out_sentences(slt):
    from engine import voice_fit as vf
    from tests.audio_checks import wav_to_array
    from voices import fitting, measure

    engine = KokoroEngine(threads=2)

    def speak(profile: dict, text: str) -> tuple[np.ndarray, int]:
        voice = engine.profile_voice(profile)
        return np.concatenate([engine.synthesize_chunk(c, voice) for c in engine.prepare(text)]), 24000

    x, rate = wav_to_array(slt)
    start, _ = engine.encode_speaker(vf.reference_analyze(x, rate))
    seen = []
    result = fitting.profile_fit(
        reference=x, sample_rate=rate, start=start, speak=speak, progress=seen.append, budget_seconds=150
    )
    print(result)
    assert seen and seen[-1] == 1.0 and seen == sorted(seen)
    assert result.evaluations > 1, "the search tried nothing"
    assert kp.parse(result.profile)  # a profile the engine speaks
    assert (result.similarity - result.word_error) >= (result.start.similarity - result.start.word_error)
    assert result.naturalness >= result.start.naturalness - fitting.NATURALNESS_SLACK
    # The scores are what the profile sounds like on the held-out sentences, measured again here.
    audio = [speak(result.profile, text)[0] for text in fitting.HELD_OUT]
    similarity = measure.speaker_similarity(x, rate, np.concatenate(audio), 24000)
    errors = [measure.word_error(text, a, 24000) for text, a in zip(fitting.HELD_OUT, audio, strict=True)]
    assert similarity == pytest.approx(result.similarity, abs=0.01)
    assert np.mean(errors) == pytest.approx(result.word_error, abs=0.01)
    if not result.improved:
        assert result.profile == start
