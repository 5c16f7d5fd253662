"""How a voice sounds to a listener, measured from outside with independent tools: one module for
the clone fitter (voices/fitting.py), the tests (tests/audio_checks.py) and the benchmarks.

- ``speaker_similarity(a, a_rate, b, b_rate)``: Resemblyzer speaker-embedding cosine similarity
  (~0.5-0.7 for different speakers of the same sex, ~0.8+ for the same speaker);
- ``transcribe(audio, rate)`` and ``word_error(text, audio, rate)``: pocketsphinx's bundled US
  English model, scored with jiwer after ``normalize_text``;
- ``naturalness(audio, rate)``: DNSMOS (speechmos), the overall MOS (1-5) it predicts.

Audio is float samples in [-1, 1] at any rate. The models are heavy (torch, ONNX sessions), so they
are imported and opened on first use, once per process.
"""

from __future__ import annotations

import functools
import re
import threading

import numpy as np

# --- speaker likeness ------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def _voice_encoder():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from resemblyzer import VoiceEncoder

        return VoiceEncoder("cpu", verbose=False)


def speaker_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """Resemblyzer's speaker embedding (unit norm, 256 floats)."""
    from resemblyzer import preprocess_wav

    return _voice_encoder().embed_utterance(preprocess_wav(np.asarray(audio, np.float32), source_sr=sample_rate))


def embedding_similarity(ea: np.ndarray, eb: np.ndarray) -> float:
    return float(np.dot(ea, eb) / (np.linalg.norm(ea) * np.linalg.norm(eb)))


def speaker_similarity(a: np.ndarray, a_rate: int, b: np.ndarray, b_rate: int) -> float:
    """Cosine similarity of the Resemblyzer embeddings of two recordings."""
    return embedding_similarity(speaker_embedding(a, a_rate), speaker_embedding(b, b_rate))


# --- intelligibility -------------------------------------------------------------------

_DECODER_LOCK = threading.Lock()
ASR_RATE = 16000


@functools.lru_cache(maxsize=1)
def _decoder():
    from pocketsphinx import Decoder

    # The bundled en-us acoustic model, language model and dictionary.
    return Decoder(samprate=ASR_RATE, loglevel="ERROR")


def _asr_pcm(audio: np.ndarray, sample_rate: int) -> bytes:
    import soxr

    x = np.asarray(audio, dtype=np.float64)
    if sample_rate != ASR_RATE and x.size:
        x = soxr.resample(x, sample_rate, ASR_RATE, quality="HQ")
    # A little gain so quiet audio still decodes, and silence around it: the recogniser likes a
    # short lead-in and lead-out.
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if 0 < peak < 0.25:
        x = x * (0.5 / peak)
    pad = np.zeros(4000)
    return (np.clip(np.concatenate([pad, x, pad]), -1, 1) * 32767).astype("<i2").tobytes()


def transcribe(audio: np.ndarray, sample_rate: int) -> str:
    """pocketsphinx's best hypothesis ('' if none)."""
    pcm = _asr_pcm(audio, sample_rate)
    with _DECODER_LOCK:
        d = _decoder()
        d.start_utt()
        d.process_raw(pcm, full_utt=True)
        d.end_utt()
        hyp = d.hyp()
    return hyp.hypstr.strip() if hyp is not None else ""


_ONES = [
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven"),
    *("twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"),
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]


def _number_words(n: int) -> str:
    if n < 20:
        return _ONES[n]
    if n < 100:
        t, o = divmod(n, 10)
        return _TENS[t] + ("" if o == 0 else " " + _ONES[o])
    if n < 1000:
        h, r = divmod(n, 100)
        return _ONES[h] + " hundred" + ("" if r == 0 else " " + _number_words(r))
    for size, name in ((10**9, "billion"), (10**6, "million"), (1000, "thousand")):
        if n >= size:
            q, r = divmod(n, size)
            return _number_words(q) + " " + name + ("" if r == 0 else " " + _number_words(r))
    return str(n)  # pragma: no cover


def normalize_text(text: str) -> str:
    """Lowercase, numbers as spoken words, punctuation stripped, spaces collapsed."""
    text = text.lower().replace("&", " and ").replace("%", " percent ")
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text)  # 1,000 -> 1000
    text = re.sub(
        r"\d+", lambda m: " " + _number_words(int(m.group())) + " " if len(m.group()) < 10 else m.group(), text
    )
    text = re.sub(r"[-\u2010-\u2015/]", " ", text)  # hyphens split words
    text = re.sub(r"[^\w\s']", " ", text)
    text = re.sub(r"(?<!\w)'|'(?!\w)", " ", text)  # quotes, keep contractions
    return " ".join(text.split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    """WER of ``hypothesis`` against ``reference`` after ``normalize_text``; an empty hypothesis
    against a non-empty reference is 1.0."""
    import jiwer

    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp))


def word_error(text: str, audio: np.ndarray, sample_rate: int) -> float:
    """pocketsphinx's word error on ``audio`` saying ``text``."""
    return word_error_rate(text, transcribe(audio, sample_rate))


# --- naturalness -------------------------------------------------------------------------

_MOS_LOCK = threading.Lock()


def naturalness(audio: np.ndarray, sample_rate: int) -> float:
    """DNSMOS's predicted overall MOS (1-5; Joe, Piper's neural voice, scores about 3.3, a WORLD
    vocoder transform of him about 2.3). Clips shorter than DNSMOS's 9 s window are repeated."""
    import soxr

    with _MOS_LOCK:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from speechmos import dnsmos

        x = np.asarray(audio, dtype=np.float64)
        if sample_rate != dnsmos.SR:
            x = soxr.resample(x, sample_rate, dnsmos.SR, quality="HQ")
        x = np.clip(x, -1.0, 1.0)
        if not x.size or not np.any(x):
            return 1.0
        return float(dnsmos.run(x, dnsmos.SR)["ovrl_mos"])
