"""Verified takes: each chunk's audio is heard back by a speech recogniser and compared with its text.

- ``transcribe(x, rate)``: pocketsphinx's bundled US English model (acoustic model, language
  model, dictionary: nothing downloaded) on float audio at any rate.
- ``word_error(reference, hypothesis)``: word error rate after ``normalize_text`` (lowercase,
  numbers as words, punctuation gone): word edits / reference words.
- ``Verifier.check(text, x, language)`` -> ``Check``: whether the take passes
  (``word_error <= WORD_ERROR_MAX``), or ``checked=False`` for a language the recogniser does not
  know (only English).
- ``retake_voice(voice)``: the voice to speak a failed chunk again with. Piper samples new noise
  on every call, so its voice is the same; Kokoro has no noise, so the retake is slower.

The engine's chunk loop (``engine.app``) speaks a chunk, checks it, speaks it once more if it
failed, and keeps the take with the lower word error. The tests' listener checks
(``tests/audio_checks.py``) use the same transcription and word error.

Everything here is blocking (called from worker threads). A pocketsphinx decoder is not
thread-safe, so each check borrows one from a small pool (at most one per concurrent check).
"""

from __future__ import annotations

import dataclasses
import re
import threading
from dataclasses import dataclass

import numpy as np

RECOGNISER_RATE = 16000
# A chunk passes when its word error is at most this. Calibrated with bench/verify.py --calibrate on
# 48 normal chunks per voice (docs/performance.md, "Verified takes"): pocketsphinx alone gets
# good chunks wrong often (its language model is general), so the bar sits above nearly every
# good take and below what a mis-spoken or cut-off chunk gives.
WORD_ERROR_MAX = 0.5
# Kokoro is deterministic: a failed chunk is spoken again this much slower (its speed input is
# multiplied by this), which changes its timing and is easier to follow (bench/voices.py: speed
# 0.9 lowered the word error of both Kokoro voices).
RETAKE_SPEED = 0.9
CHECKED_LANGUAGES = ("en",)  # pocketsphinx's bundled model is US English


@dataclass(frozen=True)
class Check:
    checked: bool  # False: the language cannot be checked (or the chunk has no words to check)
    word_error: float | None = None
    transcript: str = ""

    @property
    def passed(self) -> bool | None:
        return None if not self.checked else self.word_error <= WORD_ERROR_MAX

    def better_than(self, other: Check) -> bool:
        return self.checked and other.checked and self.word_error < other.word_error


def checkable(language: str | None) -> bool:
    return (language or "").lower().split("-")[0] in CHECKED_LANGUAGES


# --- transcription ----------------------------------------------------------------------


def to_recogniser_pcm(x: np.ndarray, rate: int) -> bytes:
    """16 kHz s16le with a short silence either side (the recogniser likes a lead-in and -out),
    quiet audio brought up so it still decodes."""
    import soxr

    x = np.asarray(x, dtype=np.float64).reshape(-1)
    if rate != RECOGNISER_RATE and x.size:
        x = soxr.resample(x, rate, RECOGNISER_RATE, quality="HQ")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if 0 < peak < 0.25:
        x = x * (0.5 / peak)
    pad = np.zeros(RECOGNISER_RATE // 4)
    return (np.clip(np.concatenate([pad, x, pad]), -1, 1) * 32767).astype("<i2").tobytes()


class _Decoders:
    """pocketsphinx decoders, one per concurrent user, made on first need (≈ 0.3 s each)."""

    def __init__(self) -> None:
        self._free: list = []
        self._lock = threading.Lock()

    def transcribe(self, pcm16k: bytes) -> str:
        with self._lock:
            decoder = self._free.pop() if self._free else None
        if decoder is None:
            from pocketsphinx import Decoder

            decoder = Decoder(samprate=RECOGNISER_RATE, loglevel="ERROR")
        try:
            decoder.start_utt()
            decoder.process_raw(pcm16k, full_utt=True)
            decoder.end_utt()
            hyp = decoder.hyp()
        finally:
            with self._lock:
                self._free.append(decoder)
        return hyp.hypstr.strip() if hyp is not None else ""

    def clear(self) -> None:
        with self._lock:
            self._free.clear()


_DECODERS = _Decoders()


def transcribe(x: np.ndarray, rate: int) -> str:
    """The best hypothesis of pocketsphinx's US English model for float audio ('' if none)."""
    return _DECODERS.transcribe(to_recogniser_pcm(x, rate))


def transcribe_pcm16(pcm16k: bytes) -> str:
    """The same, for 16 kHz s16le mono PCM already prepared by ``to_recogniser_pcm``."""
    return _DECODERS.transcribe(pcm16k)


# --- word error -------------------------------------------------------------------------

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
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


def word_error(reference: str, hypothesis: str) -> float:
    """Word edits (substitutions, insertions, deletions) from the normalised reference to the
    normalised hypothesis, over the reference's words; an empty hypothesis of a non-empty reference
    is 1.0 (jiwer's WER, without the dependency)."""
    ref, hyp = normalize_text(reference).split(), normalize_text(hypothesis).split()
    if not ref:
        return 0.0 if not hyp else 1.0
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / len(ref)


# --- checks -----------------------------------------------------------------------------


def check(text: str, x: np.ndarray, rate: int, *, language: str | None) -> Check:
    """Hear ``x`` back and compare it with ``text`` (unchecked for a language other than English,
    or a text with no words)."""
    if not checkable(language) or not normalize_text(text):
        return Check(checked=False)
    transcript = transcribe(x, rate)
    return Check(checked=True, word_error=round(word_error(text, transcript), 3), transcript=transcript)


def retake_voice(voice):
    """The voice a failed chunk is spoken again with: Piper draws new noise on every call (same
    voice); a Kokoro voice (it has a ``speed``) is slowed by RETAKE_SPEED."""
    speed = getattr(voice, "speed", None)
    if speed is None:
        return voice
    return dataclasses.replace(voice, speed=round(speed * RETAKE_SPEED, 3))


def unload() -> None:
    """Drop the idle decoders (their memory goes back with the models' on idle unload)."""
    _DECODERS.clear()


@dataclass(frozen=True)
class Take:
    """The audio kept for a chunk, its check, and whether the chunk was spoken twice."""

    audio: np.ndarray
    check: Check
    respoken: bool = False


def take_verified(
    text: str, speak, voice, *, rate: int, language: str | None, cancelled: threading.Event | None = None
) -> Take:
    """``speak(voice)`` once and hear it back; if it fails, once more with ``retake_voice(voice)``,
    and keep the take with the lower word error (the first on a tie). Only the kept take is sent,
    so a chunk spoken twice is delivered, and billed, once."""
    audio = speak(voice)
    first = check(text, audio, rate, language=language)
    if first.passed is not False or (cancelled is not None and cancelled.is_set()):
        return Take(audio, first)
    again = speak(retake_voice(voice))
    if cancelled is not None and cancelled.is_set():
        return Take(audio, first, respoken=True)
    second = check(text, again, rate, language=language)
    return Take(again, second, respoken=True) if second.better_than(first) else Take(audio, first, respoken=True)
