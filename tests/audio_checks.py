"""Listener-style audio checks shared by the whole test suite.

Everything here works on plain bytes so tests can feed it what the product
actually serves: a WAV file (``wav_info``, ``transcribe``) or raw PCM
(``rms_dbfs`` also accepts signed 16-bit little-endian mono PCM).

- ``wav_info(wav) -> (sample_rate, channels, sample_width, seconds)``
- ``rms_dbfs(pcm_or_wav) -> float`` (-inf for digital silence)
- ``transcribe(wav) -> str`` with pocketsphinx's bundled US English model
- ``word_error_rate(reference, hypothesis) -> float`` via jiwer, normalised
- ``word_segments(wav_or_pcm, text) -> [(word, start, end)]`` pocketsphinx's forced alignment of
  ``text``'s words to the audio (an aligner independent of the engine's own word timings)
- ``pcm_to_wav(pcm, sample_rate=24000)`` to wrap raw PCM for the helpers above
- ``median_f0(wav_or_pcm)`` the speaker's median pitch in Hz (pyworld harvest)
- ``base_f0(wav_or_pcm)`` the speaker's base pitch (lower quartile), steadier within one sentence
- ``festival_wav(text, voice)`` a reference speaker's speech (Festival's text2wave)
- ``speaker_similarity(a, b)`` Resemblyzer speaker-embedding cosine similarity
- ``japanese_morae(text)`` the morae of a Japanese text's reading (its speech's length is judged by it)
- ``naturalness(wav_or_pcm)`` DNSMOS's predicted MOS
- ``audio_probe(data, format)``, ``assert_audio_format(info, format)``, ``audio_decoded_wav(data,
  format)``: ffprobe's view of a file in a delivery format (mp3, opus, aac, flac, wav, pcm), that
  it is what it claims, and ffmpeg's decoding of it to WAV

The recogniser, the speaker encoder and the MOS predictor are the product's own measures
(voices/measure.py, which the clone fitter uses; its recogniser is the engine's, engine/verify.py);
here they take bytes.
"""

from __future__ import annotations

import io
import json
import subprocess
import wave

import numpy as np

from voices import measure

__all__ = [
    "assert_audio_format",
    "audio_decoded_wav",
    "audio_probe",
    "base_f0",
    "festival_wav",
    "japanese_morae",
    "median_f0",
    "naturalness",
    "normalize_text",
    "pcm_to_wav",
    "rms_dbfs",
    "speaker_embedding",
    "speaker_similarity",
    "transcribe",
    "wav_info",
    "wav_to_array",
    "word_error_rate",
    "word_segments",
]

_PCM_RATE = 24000


def audio_probe(data: bytes, name: str) -> dict:
    """ffprobe's format and stream of a file in a delivery format (``pcm``: read as 24 kHz mono s16le)."""
    args = ["ffprobe", "-v", "error", "-show_entries", "format=format_name,duration:stream=codec_name,channels"]
    if name == "pcm":
        args += ["-f", "s16le", "-ar", "24000", "-ac", "1"]
    out = subprocess.run([*args, "-of", "json", "-i", "pipe:0"], input=data, capture_output=True, check=True)
    return json.loads(out.stdout)


# What ffprobe names each delivery format's container and codec.
FORMAT_CONTAINERS = {"wav": "wav", "pcm": "s16le", "mp3": "mp3", "opus": "ogg", "aac": "aac", "flac": "flac"}
FORMAT_CODECS = {"wav": "pcm_s16le", "pcm": "pcm_s16le", "mp3": "mp3", "opus": "opus", "aac": "aac", "flac": "flac"}


def assert_audio_format(info: dict, name: str) -> None:
    """``audio_probe``'s answer is the format ``name`` claims: its container, its codec, mono."""
    assert info["format"]["format_name"].split(",")[0] == FORMAT_CONTAINERS[name], info
    assert info["streams"][0]["codec_name"] == FORMAT_CODECS[name], info
    assert info["streams"][0]["channels"] == 1, info


def audio_decoded_wav(data: bytes, name: str) -> bytes:
    """A file in a delivery format decoded by ffmpeg to a 24 kHz mono WAV."""
    args = ["ffmpeg", "-v", "error"] + (["-f", "s16le", "-ar", "24000", "-ac", "1"] if name == "pcm" else [])
    out = subprocess.run(
        [*args, "-i", "pipe:0", "-ar", "24000", "-ac", "1", "-f", "wav", "pipe:1"],
        input=data,
        capture_output=True,
        check=True,
    )
    return out.stdout


def pcm_to_wav(pcm: bytes, sample_rate: int = _PCM_RATE, channels: int = 1) -> bytes:
    """Wrap raw s16le PCM in a WAV container."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(sample_rate)
        w.writeframes(pcm)
    return buf.getvalue()


def _is_wav(data: bytes) -> bool:
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def wav_info(wav_bytes: bytes) -> tuple[int, int, int, float]:
    """(sample_rate, channels, sample_width_bytes, seconds) of a WAV file.

    Raises ``ValueError`` (from ``wave``) if the bytes are not a valid WAV.
    Tolerates streamed WAVs whose header sizes are placeholders: the duration
    is then computed from the bytes actually present.
    """
    if not _is_wav(wav_bytes):
        raise ValueError("not a RIFF/WAVE file")
    with wave.open(io.BytesIO(wav_bytes), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        frames = w.getnframes()
        data = w.readframes(frames if frames < 2**31 - 1 else 2**31 - 1)
    real_frames = len(data) // (channels * width)
    return rate, channels, width, real_frames / float(rate)


def wav_to_array(data: bytes, default_rate: int = _PCM_RATE) -> tuple[np.ndarray, int]:
    """Decode WAV bytes (any PCM width, channels mixed down) or raw s16le mono
    PCM into a float64 array in [-1, 1] and its sample rate."""
    if not _is_wav(data):
        if len(data) % 2:
            data = data[:-1]
        return np.frombuffer(data, dtype="<i2").astype(np.float64) / 32768.0, default_rate
    with wave.open(io.BytesIO(data), "rb") as w:
        rate, channels, width = w.getframerate(), w.getnchannels(), w.getsampwidth()
        raw = w.readframes(w.getnframes())
    usable = len(raw) - len(raw) % (channels * width)
    raw = raw[:usable]
    if width == 2:
        x = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    elif width == 1:
        x = (np.frombuffer(raw, dtype=np.uint8).astype(np.float64) - 128.0) / 128.0
    elif width == 4:
        x = np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0
    elif width == 3:
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        ints = b[:, 0].astype(np.int32) | (b[:, 1].astype(np.int32) << 8) | (b[:, 2].astype(np.int32) << 16)
        ints = np.where(ints >= 2**23, ints - 2**24, ints)
        x = ints.astype(np.float64) / float(2**23)
    else:  # pragma: no cover - exotic widths
        raise ValueError(f"unsupported sample width {width}")
    if channels > 1:
        x = x.reshape(-1, channels).mean(axis=1)
    return x, rate


def rms_dbfs(data: bytes) -> float:
    """RMS level in dBFS of a WAV file or of raw s16le mono PCM.

    A full-scale square wave is 0 dBFS; digital silence is ``-inf``.
    """
    x, _ = wav_to_array(data)
    if x.size == 0:
        return float("-inf")
    rms = float(np.sqrt(np.mean(x * x)))
    return 20.0 * np.log10(rms) if rms > 0 else float("-inf")


# --- speech recognition and word error (voices/measure.py, the product's own measures) ----------


def transcribe(wav_bytes: bytes) -> str:
    """Best hypothesis of pocketsphinx's bundled US English model ('' if none).

    Accepts WAV bytes (any rate/channels/width) or raw 24 kHz s16le PCM.
    """
    return measure.transcribe(*wav_to_array(wav_bytes))


normalize_text = measure.normalize_text
word_error_rate = measure.word_error_rate


def word_segments(data: bytes, text: str) -> list[tuple[str, float, float]]:
    """Where pocketsphinx's US English model, told the words (``text`` normalised: in its
    dictionary), puts each of them: (word, start s, end s), silences left out. Alternative
    pronunciations come back as the word ("to(3)" -> "to")."""
    from pocketsphinx import Decoder

    from engine.verify import RECOGNISER_RATE, to_recogniser_pcm

    x, rate = wav_to_array(data)
    lead = RECOGNISER_RATE // 4 / RECOGNISER_RATE  # the silence to_recogniser_pcm puts before the audio
    decoder = Decoder(samprate=RECOGNISER_RATE, loglevel="ERROR")
    decoder.set_align_text(normalize_text(text))
    decoder.start_utt()
    decoder.process_raw(to_recogniser_pcm(x, rate), full_utt=True)
    decoder.end_utt()
    frame = 1 / 100  # pocketsphinx's frames: 100 a second
    return [
        (seg.word.split("(")[0], seg.start_frame * frame - lead, (seg.end_frame + 1) * frame - lead)
        for seg in decoder.seg()
        if not seg.word.startswith(("<", "("))
    ]


# --- pitch ----------------------------------------------------------------


def median_f0(data: bytes, f0_floor: float = 60.0, f0_ceil: float = 500.0) -> float:
    """Median F0 (Hz) over voiced frames, via pyworld's harvest; 0.0 if unvoiced."""
    return _f0_percentile(data, 50, f0_floor, f0_ceil)


def base_f0(data: bytes) -> float:
    """The speaker's base pitch (Hz): the lower quartile of F0 over voiced frames. In one sentence
    the median follows the intonation (Joe's moves from 121 to 178 Hz between renditions of the
    same sentence); the quartile under the peaks stays put (95-123 Hz for Joe, 139-171 Hz for
    the female voice, measured over 20 renditions of each of two sentences)."""
    return _f0_percentile(data, 25, 60.0, 500.0)


def _f0_percentile(data: bytes, percentile: float, f0_floor: float, f0_ceil: float) -> float:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyworld

    x, rate = wav_to_array(data)
    if x.size == 0:
        return 0.0
    f0, _ = pyworld.harvest(np.ascontiguousarray(x), rate, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=10.0)
    voiced = f0[f0 > 0]
    return float(np.percentile(voiced, percentile)) if voiced.size else 0.0


# --- reference speakers and speaker similarity ------------------------------


def festival_wav(text: str, voice: str, sample_rate: int = _PCM_RATE) -> bytes:
    """``text`` spoken by a Festival voice (e.g. ``"cmu_us_slt_arctic_hts"``,
    ``"kal_diphone"``, ``"ked_diphone"``) via ``text2wave``, as mono s16le
    WAV at ``sample_rate``, leading and trailing silence trimmed."""
    import subprocess
    import tempfile
    from pathlib import Path

    import soxr

    with tempfile.TemporaryDirectory() as tmp:
        txt, out = Path(tmp, "in.txt"), Path(tmp, "out.wav")
        txt.write_text(text + "\n", encoding="utf-8")
        subprocess.run(
            ["text2wave", "-eval", f"(voice_{voice})", str(txt), "-o", str(out)], check=True, capture_output=True
        )
        x, rate = wav_to_array(out.read_bytes())
    if rate != sample_rate:
        x = soxr.resample(x, rate, sample_rate, quality="HQ")
    loud = np.flatnonzero(np.abs(x) > 10 ** (-45 / 20))
    if loud.size:
        x = x[max(0, loud[0] - sample_rate // 20) : loud[-1] + sample_rate // 20]
    return pcm_to_wav((np.clip(x, -1, 1) * 32767).round().astype("<i2").tobytes(), sample_rate)


def speaker_embedding(data: bytes) -> np.ndarray:
    """Resemblyzer's speaker embedding (unit norm, 256 floats) of WAV bytes or
    raw 24 kHz s16le PCM."""
    return measure.speaker_embedding(*wav_to_array(data))


def speaker_similarity(a: bytes, b: bytes) -> float:
    """Cosine similarity of the Resemblyzer embeddings of two recordings
    (WAV bytes or raw 24 kHz PCM): ~0.5-0.7 for different speakers of the
    same sex, ~0.8+ for the same speaker."""
    return measure.embedding_similarity(speaker_embedding(a), speaker_embedding(b))


def naturalness(data: bytes) -> float:
    """DNSMOS's predicted overall MOS (1-5) of WAV bytes or raw 24 kHz PCM."""
    return measure.naturalness(*wav_to_array(data))


# --- Japanese (no recogniser here: its length is judged against its morae) ---------

_SMALL_KANA = set("ァィゥェォャュョヮ")


def japanese_morae(text: str) -> int:
    """The morae of a Japanese text's reading, as the engine reads it (OpenJTalk's katakana): every
    kana but the small ones that join the kana before them (ッ and ー count)."""
    import pyopenjtalk

    reading = pyopenjtalk.g2p(text, kana=True)
    return sum(1 for ch in reading if "\u30a1" <= ch <= "\u30fc" and ch not in _SMALL_KANA)
