"""How a voice sounds to a listener, measured from outside with independent tools: one module for
the clone fitter (voices/fitting.py), the tests (tests/audio_checks.py) and the benchmarks.

- ``speaker_similarity(a, a_rate, b, b_rate)``: Resemblyzer speaker-embedding cosine similarity
  (~0.5-0.7 for different speakers of the same sex, ~0.8+ for the same speaker);
- ``transcribe(audio, rate)`` and ``word_error(text, audio, rate)``: pocketsphinx's bundled US
  English model, scored with jiwer after ``normalize_text`` (the engine's own, engine/verify.py);
- ``naturalness(audio, rate)``: DNSMOS (speechmos), the overall MOS (1-5) it predicts.

Audio is float samples in [-1, 1] at any rate. The models are heavy (torch, ONNX sessions), so they
are imported and opened on first use, once per process.
"""

from __future__ import annotations

import functools
import threading

import numpy as np

from engine.verify import normalize_text, transcribe
from engine.verify import word_error as word_error_rate

__all__ = [
    "embedding_similarity",
    "naturalness",
    "normalize_text",
    "speaker_embedding",
    "speaker_similarity",
    "transcribe",
    "word_error",
    "word_error_rate",
]

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


# --- intelligibility: the engine's own recogniser and word error (engine/verify.py) -------


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
