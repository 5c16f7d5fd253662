"""The generation service's checks and the audio helpers, without the stack's processes."""

import struct
import uuid

import numpy as np
import pytest

from core.audio import SAMPLE_RATE, PeaksBuilder, wav_from_pcm, wav_header
from strictenv import ImproperlyConfiguredEnv, env_bool, env_int, env_url
from studio.models import Generation
from studio.services import GenerationRefused, generation_create, generation_text_clean, session_create


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("\x00\x07\x1b", "empty"),
        ("!!! ... ???", "no words"),
        (42, "must be a string"),
        (None, "must be a string"),
        (["hello"], "must be a string"),
    ],
)
def test_unspeakable_text_is_refused_with_a_reason(text, message):
    with pytest.raises(GenerationRefused) as refused:
        generation_text_clean(text)
    assert refused.value.code == "VALIDATION_ERROR"
    assert message in refused.value.message


def test_text_over_the_limit_is_refused_and_names_the_limit(settings):
    settings.TTS_MAX_TEXT_CHARS = 5000
    assert generation_text_clean("a" * 5000) == "a" * 5000
    with pytest.raises(GenerationRefused) as refused:
        generation_text_clean("a" * 5001)
    assert "5,001" in refused.value.message and "5,000" in refused.value.message


def test_control_characters_are_removed_but_newlines_kept():
    assert generation_text_clean("  Hello\x00 world.\nSecond\x1b line.  ") == "Hello  world.\nSecond  line."


def test_refused_generation_stores_nothing(user, builtin_voices):
    session = session_create(owner=user)
    for text, voice_id in [("", builtin_voices["EN-MALE-1-NEUTRAL"].id), ("Hello.", uuid.uuid4()), ("Hi", "nope")]:
        with pytest.raises(GenerationRefused):
            generation_create(user=user, session=session, text=text, voice_id=voice_id)
    assert Generation.objects.count() == 0


def test_unknown_voice_is_not_found(user, builtin_voices):
    session = session_create(owner=user)
    with pytest.raises(GenerationRefused) as refused:
        generation_create(user=user, session=session, text="Hello.", voice_id=str(uuid.uuid4()))
    assert refused.value.code == "NOT_FOUND"


def test_builtin_voices_have_stable_ids_and_both_genders(builtin_voices):
    from voices.services import voices_sync_builtin

    again = {voice.speaker_name: voice.id for voice in voices_sync_builtin()}
    assert again == {name: voice.id for name, voice in builtin_voices.items()}
    assert {voice.gender for voice in builtin_voices.values()} >= {"female", "male"}
    assert "EN-FEMALE-1-NEUTRAL" in builtin_voices and "EN-MALE-1-NEUTRAL" in builtin_voices


def test_wav_header_describes_24khz_mono_16bit():
    header = wav_header(48_000)
    assert len(header) == 44 and header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    _, fmt, channels, rate, byte_rate, align, bits = struct.unpack("<IHHIIHH", header[16:36])
    assert (fmt, channels, rate, byte_rate, align, bits) == (1, 1, 24_000, 48_000, 2, 16)
    assert struct.unpack("<I", header[40:44])[0] == 48_000
    assert struct.unpack("<I", header[4:8])[0] == 36 + 48_000


def test_wav_from_pcm_is_read_back_by_a_standard_reader(tmp_path):
    import soundfile

    tone = (np.sin(np.arange(SAMPLE_RATE) * 2 * np.pi * 440 / SAMPLE_RATE) * 16_000).astype("<i2")
    path = tmp_path / "tone.wav"
    path.write_bytes(wav_from_pcm(tone.tobytes()))
    data, rate = soundfile.read(path, dtype="int16")
    assert rate == SAMPLE_RATE and data.ndim == 1 and len(data) == SAMPLE_RATE
    assert np.array_equal(data, tone)


def test_peaks_do_not_depend_on_how_the_pcm_is_split():
    rng = np.random.default_rng(7)
    pcm = (rng.standard_normal(SAMPLE_RATE * 2) * 8000).clip(-32768, 32767).astype("<i2").tobytes()
    whole = PeaksBuilder(50)
    whole.feed(pcm)
    whole.finish()
    pieces = PeaksBuilder(50)
    for start in range(0, len(pcm), 1001):  # odd sizes, even splitting samples in half
        pieces.feed(pcm[start : start + 1001])
    pieces.finish()
    assert len(whole.peaks) == 100
    assert pieces.peaks == whole.peaks
    # Each peak is its bucket's loudest sample over full scale, to 3 places (numpy's own reading).
    buckets = np.abs(np.frombuffer(pcm, "<i2").astype(np.int32)).reshape(100, -1).max(axis=1)
    assert whole.peaks == [round(float(x), 3) for x in np.minimum(buckets / 32767, 1.0)]


def test_peaks_of_silence_are_zero_and_of_full_scale_one():
    builder = PeaksBuilder(50)
    assert builder.feed(b"\x00\x00" * 480) == [0.0]
    assert builder.feed(struct.pack("<h", -32768) * 480) == [1.0]


def test_settings_readers_fail_loudly_on_bad_values(monkeypatch):
    monkeypatch.setenv("X_BOOL", "maybe")
    monkeypatch.setenv("X_INT", "ten")
    monkeypatch.setenv("X_URL", "localhost:6379")
    with pytest.raises(ImproperlyConfiguredEnv, match="X_BOOL"):
        env_bool("X_BOOL", False)
    with pytest.raises(ImproperlyConfiguredEnv, match="X_INT"):
        env_int("X_INT", 1)
    with pytest.raises(ImproperlyConfiguredEnv, match="X_URL"):
        env_url("X_URL", "redis://x", schemes={"redis"})
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfiguredEnv, match="minimum"):
        env_int("X_INT", 1, minimum=1)


@pytest.mark.parametrize(
    ("typed", "position"),
    [
        ("<speak>Hi <b>x</b></speak>", "line 1, column 11"),
        ("\n\n  <speak>Hi\n <b>x</b></speak>", "line 4, column 2"),
        ("   <speak>Hi <b>x</b></speak>", "line 1, column 14"),
    ],
)
def test_bad_markup_is_refused_at_the_position_the_writer_sees(user, builtin_voices, typed, position):
    """The cleaning strips leading blank lines and spaces; the position counts them back."""
    session = session_create(owner=user)
    with pytest.raises(GenerationRefused) as refused:
        generation_create(user=user, session=session, text=typed, voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id)
    assert refused.value.code == "VALIDATION_ERROR"
    assert f"Markup error at {position}: unknown element <b>" in refused.value.message
    assert Generation.objects.count() == 0
