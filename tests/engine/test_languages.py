"""Languages on the real engine: Japanese read by the Kokoro voices (the Japanese ones and, across
languages, an English one), the request's `language` (detected when absent), and a clear 400 for a
language a voice's engine does not speak. There is no Japanese recogniser here, so Japanese speech is
judged by what can be heard without one: its length against the text's morae (the reading
OpenJTalk gives), its loudness, its voicing and pitch, and its pauses between sentences."""

from __future__ import annotations

import re

import httpx
import numpy as np
import pytest

from engine.client import Audio, Done, EngineClient, EngineError
from engine.languages import language_detect, language_normalize
from engine.piper_engine import female_base
from engine.text import split_chunks
from tests.audio_checks import japanese_morae, median_f0, pcm_to_wav, rms_dbfs, wav_info, wav_to_array

pytestmark = [pytest.mark.engine, pytest.mark.timeout(600)]

JOE, FEMALE = "EN-MALE-1-NEUTRAL", "EN-FEMALE-1-NEUTRAL"
JA_VOICES = {"JA-FEMALE-1-NEUTRAL": "female", "JA-FEMALE-2-NEUTRAL": "female", "JA-MALE-1-NEUTRAL": "male"}
# Two sentences: the second a little kanji-heavy, and a number read with its counter.
JAPANESE = "今日は朝から雨が降っていたので、駅まで傘をさして歩きました。会議は午後3時に始まります。"
SHORT_JAPANESE = "おはようございます。"


def collect(client: EngineClient, text: str, voice: str | None = None, **kw) -> tuple[list, bytes]:
    events = list(client.synthesize(text, voice, **kw))
    return events, b"".join(e.pcm for e in events if isinstance(e, Audio))


def voiced_fraction(wav: bytes) -> float:
    """The share of 10 ms frames with a pitch: speech is voiced in part, neither never nor always."""
    import pyworld

    x, rate = wav_to_array(wav)
    f0, _ = pyworld.harvest(np.ascontiguousarray(x), rate, f0_floor=60.0, f0_ceil=500.0, frame_period=10.0)
    return float(np.mean(f0 > 0))


def longest_pause(wav: bytes) -> float:
    """The longest run (s) of 10 ms frames 40 dB under the loudest frame."""
    x, rate = wav_to_array(wav)
    hop = rate // 100
    frames = x[: x.size // hop * hop].reshape(-1, hop)
    level = 20 * np.log10(np.sqrt(np.mean(frames**2, axis=1)) + 1e-9)
    quiet = level < level.max() - 40
    longest = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        longest = max(longest, run)
    return longest / 100


def assert_japanese_speech(pcm: bytes, text: str, *, low_f0: float, high_f0: float) -> dict:
    wav = pcm_to_wav(pcm)
    rate, channels, width, seconds = wav_info(wav)
    n = japanese_morae(text)
    measured = {
        "seconds": seconds,
        "morae": n,
        "s_per_mora": seconds / n,
        "dbfs": rms_dbfs(wav),
        "voiced": voiced_fraction(wav),
        "f0": median_f0(wav),
    }
    print(measured)
    assert (rate, channels, width) == (24000, 1, 2)
    # Japanese is read at some 6 to 9 morae a second with pauses: Kokoro's voices measured
    # 0.10-0.14 s a mora. Half or twice that would be a text skipped or read letter by letter.
    assert 0.07 <= measured["s_per_mora"] <= 0.25, measured
    assert measured["dbfs"] > -35, measured
    assert 0.3 <= measured["voiced"] <= 0.95, measured
    assert low_f0 <= measured["f0"] <= high_f0, measured
    return measured


@pytest.mark.parametrize("voice", JA_VOICES)
def test_japanese_voices_read_japanese(client, voice):
    events, pcm = collect(client, JAPANESE, voice, language="ja")
    assert isinstance(events[-1], Done) and not events[-1].truncated
    low, high = (165, 450) if JA_VOICES[voice] == "female" else (60, 165)
    assert_japanese_speech(pcm, JAPANESE, low_f0=low, high_f0=high)
    # Two sentences, and the pause between them is heard.
    assert longest_pause(pcm_to_wav(pcm)) >= 0.2


def test_an_english_kokoro_voice_reads_japanese_in_its_own_voice(client):
    _, pcm = collect(client, JAPANESE, FEMALE, language="ja-JP")
    assert_japanese_speech(pcm, JAPANESE, low_f0=165, high_f0=450)


def test_japanese_text_is_detected_as_japanese_when_no_language_is_named(client):
    detected = collect(client, SHORT_JAPANESE, "JA-FEMALE-1-NEUTRAL")[1]
    named = collect(client, SHORT_JAPANESE, "JA-FEMALE-1-NEUTRAL", language="ja")[1]
    # Kokoro has no sampling noise: the same phonemes give the same audio.
    assert detected == named
    assert_japanese_speech(detected, SHORT_JAPANESE, low_f0=165, high_f0=450)


def test_a_japanese_voice_reads_english_too(client):
    events, pcm = collect(client, "Good morning. The meeting starts at ten.", "JA-MALE-1-NEUTRAL", language="en")
    assert isinstance(events[-1], Done)
    rate, _, _, seconds = wav_info(pcm_to_wav(pcm))
    assert rate == 24000 and 1.5 < seconds < 6 and rms_dbfs(pcm) > -35


def test_a_language_the_voices_engine_does_not_speak_is_refused(engine_url):
    def synthesize(**body) -> httpx.Response:
        return httpx.post(engine_url + "/synthesize", json=body, timeout=30)

    cases = [
        ({"text": JAPANESE, "voice": JOE}, "unsupported_language", "Japanese"),  # detected: Piper speaks English
        ({"text": "Hello.", "voice": JOE, "language": "ja"}, "unsupported_language", "Japanese"),
        ({"text": "Bonjour.", "voice": FEMALE, "language": "fr"}, "unsupported_language", "'fr'"),
        ({"text": "Hello.", "voice": FEMALE, "language": "english!"}, "invalid_language", "language"),
        ({"text": "Hello.", "voice": FEMALE, "language": 7}, "invalid_language", "language"),
        # A clone (a WORLD profile of Joe) reads English only.
        ({"text": JAPANESE, "profile": female_base().to_profile("female")}, "unsupported_language", "Japanese"),
    ]
    for body, code, words in cases:
        answer = synthesize(**body)
        assert (answer.status_code, answer.json()["code"]) == (400, code), (body, answer.text)
        assert words in answer.json()["message"], (body, answer.json())
    with EngineClient(engine_url) as client, pytest.raises(EngineError) as refused:
        collect(client, "Hello.", JOE, language="ja")
    assert refused.value.code == "unsupported_language"


def test_voices_and_health_list_the_languages(client):
    voices = {v["name"]: v for v in client.voices()}
    assert voices[JOE]["languages"] == ["en"] and voices[JOE]["language"] == "en-US"
    assert voices[FEMALE]["languages"] == ["en", "ja"]
    for name, gender in JA_VOICES.items():
        assert (voices[name]["language"], voices[name]["languages"], voices[name]["gender"]) == (
            "ja-JP",
            ["en", "ja"],
            gender,
        )
    health = client.health()
    assert health["languages"] == ["en", "ja"]
    assert {b["name"]: b["languages"] for b in health["backends"]} == {"piper-cpu": ["en"], "kokoro-cpu": ["en", "ja"]}


def test_language_tags_and_detection():
    assert [language_normalize(t) for t in ("en", "en-US", "EN_us", "ja", "ja-JP", "zh-Hant-TW")] == [
        "en",
        "en",
        "en",
        "ja",
        "ja",
        "zh",
    ]
    assert [language_normalize(t) for t in ("", "e", "english!", "12", None, 3)] == [None] * 6
    assert language_detect("ひらがな") == language_detect("カタカナ") == language_detect("漢字") == "ja"
    assert language_detect("Hello, world. 3.14!") == "en"
    assert language_detect("Meet me at 東京 station.") == "ja"  # any kana or kanji


def test_japanese_is_chunked_at_its_own_punctuation():
    text = "吾輩は猫である。名前はまだ無い!どこで生れたかとんと見当がつかぬ。円周率は3.14です。"
    assert split_chunks(text, language="ja") == [
        "吾輩は猫である。",
        "名前はまだ無い!",
        "どこで生れたかとんと見当がつかぬ。",
        "円周率は3.14です。",
    ]
    # A long sentence is cut at its commas, never inside a word, and each chunk stays short.
    long = "今日はとても良い天気なので、公園に散歩に行きましょう、そして帰りに喫茶店でコーヒーを飲みましょう。" * 3
    chunks = split_chunks(long, language="ja")
    assert all(len(c) <= 100 for c in chunks) and len(chunks[0]) <= 40
    assert all(re.search(r"[、。]$", c) for c in chunks), chunks
    assert "".join(chunks).replace(" ", "") == long
