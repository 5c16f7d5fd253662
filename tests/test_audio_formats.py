"""Every delivery format, as a player would get it: streamed bytes that decode (ffmpeg) as what
they claim, at the take's length, and still say the words (pocketsphinx)."""

from __future__ import annotations

import numpy as np
import pytest

from core.audio_formats import AUDIO_FORMATS, StreamEncoder, encode_whole
from tests.audio_checks import (
    assert_audio_format,
    audio_decoded_wav,
    audio_probe,
    festival_wav,
    transcribe,
    wav_to_array,
    word_error_rate,
)

TEXT = "The library closes early on Sundays, so we should go in the morning."


@pytest.fixture(scope="module")
def speech_pcm() -> bytes:
    """A real speaker (Festival's SLT) at the product's 24 kHz, as s16le PCM."""
    x, rate = wav_to_array(festival_wav(TEXT, "cmu_us_slt_arctic_hts"))
    assert rate == 24000
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


@pytest.mark.parametrize("name", sorted(AUDIO_FORMATS))
def test_a_streamed_take_decodes_as_its_format_at_its_length_and_says_the_words(name, speech_pcm):
    encoder = StreamEncoder(AUDIO_FORMATS[name])
    # The engine's frames: 0.2 s of audio at a time.
    step = 9600
    pieces = [encoder.encode(speech_pcm[i : i + step]) for i in range(0, len(speech_pcm), step)]
    pieces.append(encoder.finish())
    # The first bytes leave with the first half second of audio, not at the end.
    assert sum(len(p) for p in pieces[:3]) > 0
    data = b"".join(pieces)

    info = audio_probe(data, name)
    assert_audio_format(info, name)
    wav = audio_decoded_wav(data, name)
    decoded, _ = wav_to_array(wav)
    expected = len(speech_pcm) / 2 / 24000
    # Encoders pad to their frame (mp3 1152, aac 1024 samples) and lead in: a few tens of ms.
    assert abs(len(decoded) / 24000 - expected) < 0.1
    assert word_error_rate(TEXT, transcribe(wav)) <= 0.35


def test_a_download_is_the_same_format_encoded_once(speech_pcm):
    whole = encode_whole(speech_pcm, AUDIO_FORMATS["wav"])
    assert whole[:4] == b"RIFF" and int.from_bytes(whole[40:44], "little") == len(speech_pcm)
    flac = encode_whole(speech_pcm, AUDIO_FORMATS["flac"])
    # FLAC is lossless: the samples come back exactly.
    decoded = audio_decoded_wav(flac, "flac")
    assert decoded[-len(speech_pcm) :] == speech_pcm
