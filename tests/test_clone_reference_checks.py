"""The checks of a reference recording, before anything reaches the engine."""

import struct

import numpy as np
import pytest

from tests.reference_clips import clip, noise, padded, resampled, to_mp3, to_wav
from voices.reference import ReferenceRejected, reference_format, reference_prepare


def test_a_clean_wav_becomes_24khz_mono_speech():
    reference = reference_prepare(to_wav(*clip("slt", 7)))
    assert reference.source_format == "wav" and reference.seconds == pytest.approx(7, abs=0.05)
    assert len(reference.pcm) % 2 == 0
    assert reference.speech_seconds == pytest.approx(len(reference.pcm) / 48_000)
    assert 5.5 < reference.speech_seconds <= 7.0 and not reference.warnings


def test_mp3_stereo_and_any_rate_are_converted():
    samples, rate = clip("kal", 8)
    stereo = np.column_stack([samples, samples * 0.8])
    reference = reference_prepare(to_wav(resampled(stereo[:, 0], rate, 44_100), 44_100))
    assert reference.speech_seconds > 6
    reference = reference_prepare(to_wav(stereo, rate))
    assert reference.speech_seconds > 6
    mp3 = reference_prepare(to_mp3(samples, rate))
    assert mp3.source_format == "mp3" and mp3.speech_seconds > 6


def test_silence_at_both_ends_is_trimmed():
    samples, rate = clip("slt", 6)
    reference = reference_prepare(to_wav(padded(samples, rate, 1.5), rate))
    assert reference.seconds == pytest.approx(9, abs=0.05)
    assert reference.speech_seconds < 6.3


@pytest.mark.parametrize(("seconds", "words"), [(3.0, "3.0 s long"), (4.5, "4.5 s long"), (11.5, "longer than 10 s")])
def test_recordings_outside_five_to_ten_seconds_are_refused(seconds, words):
    samples, rate = clip("slt", min(seconds, 9))
    if seconds > 9:
        samples = padded(samples, rate, (seconds - 9) / 2)
    with pytest.raises(ReferenceRejected, match=words):
        reference_prepare(to_wav(samples, rate))


def test_the_format_is_judged_by_content_not_name():
    wav, mp3 = to_wav(*clip("slt", 6)), to_mp3(*clip("slt", 6))
    assert (reference_format(wav), reference_format(mp3)) == ("wav", "mp3")
    assert reference_format(b"%PDF-1.7 not audio") is None
    assert reference_format(b"OggS" + bytes(100)) is None
    with pytest.raises(ReferenceRejected, match="not WAV or MP3"):
        reference_prepare(b"I am a text file called voice.wav")


def test_truncated_and_lying_files_are_refused_or_read_for_what_they_hold():
    wav = to_wav(*clip("slt", 7))
    with pytest.raises(ReferenceRejected, match="s long"):
        reference_prepare(wav[: len(wav) // 2])  # the header promises 7 s; 3.5 s are there
    with pytest.raises(ReferenceRejected, match=r"could not be decoded|s long"):
        reference_prepare(wav[:60])
    with pytest.raises(ReferenceRejected):
        reference_prepare(b"RIFF" + struct.pack("<I", 2**31) + b"WAVE" + bytes(500))
    mp3 = to_mp3(*clip("kal", 7))
    with pytest.raises(ReferenceRejected):
        reference_prepare(mp3[:400])


def test_a_recording_that_claims_minutes_is_refused():
    """Silence packs into a small MP3 however long it is; the decoder is told to stop at 15 s."""
    with pytest.raises(ReferenceRejected, match="longer than 10 s"):
        reference_prepare(to_mp3(np.zeros(24_000 * 600), 24_000))


def test_silence_is_refused_and_clipping_reported():
    with pytest.raises(ReferenceRejected, match="silent"):
        reference_prepare(to_wav(np.zeros(24_000 * 7), 24_000))
    samples, rate = clip("kal", 7)
    loud = np.clip(samples * 12, -1, 1)
    reference = reference_prepare(to_wav(loud, rate))
    assert len(reference.warnings) == 1 and "clipping" in reference.warnings[0]


def test_noise_alone_passes_these_checks_for_the_engine_to_judge():
    reference = reference_prepare(to_wav(noise(7), 24_000))
    assert reference.speech_seconds > 6
