"""Verified takes: each chunk's audio is heard back by a speech recogniser and compared with its text.

- ``transcribe(x, rate)``: pocketsphinx's bundled US English model (acoustic model, language
  model, dictionary: nothing downloaded) on float audio at any rate.
- ``word_error(reference, hypothesis)``: word error rate after ``normalize_text`` (lowercase,
  numbers as words, punctuation gone): word edits / reference words (what the tests measure).
- ``match_error(text, hypothesis)``: the match rule, ``word_error`` forgiving what the recogniser
  cannot hear as written: words out of its dictionary and spelled acronyms.
- ``Verifier.check(text, x, language)`` -> ``Check``: whether the take passes
  (``word_error <= WORD_ERROR_MAX``), or ``checked=False`` for a language the recogniser does not
  know (only English).
- ``retake_voice(voice)``: the voice to speak a failed chunk again with. Piper samples new noise
  on every call, so its voice is the same; Kokoro has no noise, so the retake is slower.

The engine's chunk loop (``engine.app``) speaks a chunk, checks it, speaks it once more if it
failed, and keeps the take with the lower word error. A chunk too short to be judged alone
(``heard_alone``) is checked with its neighbour (``Heard``, ``take_verified(before=)``). The tests' listener checks
(``tests/audio_checks.py``) use the same transcription and word error.

Everything here is blocking (called from worker threads). A pocketsphinx decoder is not
thread-safe, so each check borrows one from a small pool (at most one per concurrent check),
dropped again when idle.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.lifecycle import release_freed_memory

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
# A chunk of fewer words than this is too short for the recogniser to judge alone: its language
# model guesses at a few words without context (Joe's good first phrase "We will meet" failed 13 of
# 40 takes heard alone, as "where will they" or "we'll meet"; its rest failed none). Such a chunk is
# heard together with the chunk after it (or, the last, with the one before).
HEARD_ALONE_MIN_WORDS = 5


@dataclass(frozen=True)
class Check:
    checked: bool  # False: not English, or words the recogniser mostly does not know (judgeable)
    word_error: float | None = None
    transcript: str = ""

    @property
    def passed(self) -> bool | None:
        return None if not self.checked or self.word_error is None else self.word_error <= WORD_ERROR_MAX

    def better_than(self, other: Check) -> bool:
        if self.word_error is None or other.word_error is None:  # not checked, either of them
            return False
        return self.checked and other.checked and self.word_error < other.word_error


def checkable(language: str | None) -> bool:
    return (language or "").lower().split("-")[0] in CHECKED_LANGUAGES


def heard_alone(text: str) -> bool:
    """Whether a chunk of ``text`` is long enough to be judged by itself (HEARD_ALONE_MIN_WORDS)."""
    return len(reference_words(text)) >= HEARD_ALONE_MIN_WORDS


@dataclass(frozen=True)
class Heard:
    """Chunks already spoken that a check hears before its own chunk: their text and audio."""

    text: str
    audio: np.ndarray

    def then(self, text: str, audio: np.ndarray) -> Heard:
        return Heard(f"{self.text} {text}", np.concatenate([self.audio, audio]))


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
        self.last_used = 0.0  # time.monotonic() of the last check

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
                self.last_used = time.monotonic()
        return hyp.hypstr.strip() if hyp is not None else ""

    def unload_if_idle(self, idle_seconds: float) -> bool:
        """Drop the decoders not in use once none has been used for ``idle_seconds``."""
        with self._lock:
            if not self._free or time.monotonic() - self.last_used < idle_seconds:
                return False
            self._free.clear()
        release_freed_memory()
        return True


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
    """jiwer's word error rate of the normalised hypothesis against the normalised reference; an
    empty hypothesis of a non-empty reference is 1.0."""
    import jiwer

    ref, hyp = normalize_text(reference), normalize_text(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    if not hyp:
        return 1.0
    return float(jiwer.wer(ref, hyp))


# --- the match rule ---------------------------------------------------------------------

# A word the recogniser cannot know (not in its dictionary: "vocoder", British spellings,
# names) comes back as up to this many other words, e.g. "the book order"; it costs nothing.
UNKNOWN_WORD_SPAN = 3
_ACRONYM = re.compile(r"[A-Z]{2,6}")  # espeak spells it ("CPU": "see pee you")


@functools.lru_cache(maxsize=1)
def _dictionary() -> frozenset[str]:
    """The words of pocketsphinx's bundled dictionary (cmudict-en-us, 135k words)."""
    from pocketsphinx import get_model_path

    path = Path(get_model_path()) / "en-us" / "cmudict-en-us.dict"
    with path.open(encoding="utf-8", errors="replace") as f:
        return frozenset(line.split(" ", 1)[0].split("(", 1)[0] for line in f if line.strip())


def reference_words(text: str) -> list[tuple[str, int]]:
    """The text's normalised words, each with how many heard words it may freely stand for: 0 for
    a word the recogniser knows (it must be heard as itself), a spelled acronym's letter count,
    UNKNOWN_WORD_SPAN for a word out of its dictionary."""
    known = _dictionary()
    shouted = not any(ch.islower() for ch in text)  # all in capitals: words, not acronyms
    words: list[tuple[str, int]] = []
    for token in text.split():
        bare = token.strip(".,;:!?\"'()[]{}“”‘’")
        if not shouted and _ACRONYM.fullmatch(bare.removesuffix("s")):
            words.append((bare.lower(), len(bare)))
            continue
        words.extend((word, 0 if word in known else UNKNOWN_WORD_SPAN) for word in normalize_text(token).split())
    return words


def judgeable(text: str) -> bool:
    """Whether the recogniser can judge a take of ``text``: at least half its words are ones it
    knows (a chunk of names or of another language's words is left unchecked)."""
    words = reference_words(text)
    return bool(words) and 2 * sum(1 for _, span in words if not span) >= len(words)


def match_error(text: str, hypothesis: str) -> float:
    """The verified take's match rule: ``word_error`` where a reference word the recogniser cannot
    hear as itself (``reference_words``) matches any run of up to its span of heard words, or none,
    at no cost. Inserted words still count, so a take saying something else fails."""
    ref, hyp = reference_words(text), normalize_text(hypothesis).split()
    if not ref:
        return 0.0 if not hyp else 1.0
    inf = float("inf")
    prev: list[float] = list(range(len(hyp) + 1))  # costs of the first i reference words against j heard ones
    for word, span in ref:
        row = [inf] * (len(hyp) + 1)
        row[0] = prev[0] + (0 if span else 1)
        for j in range(1, len(hyp) + 1):
            if span:
                best = min(prev[j - m] for m in range(min(span, j) + 1))
            else:
                best = min(prev[j] + 1, prev[j - 1] + (word != hyp[j - 1]))
            row[j] = min(best, row[j - 1] + 1)
        prev = row
    return prev[-1] / len(ref)


# --- checks -----------------------------------------------------------------------------


def check(text: str, x: np.ndarray, rate: int, *, language: str | None) -> Check:
    """Hear ``x`` back and compare it with ``text`` by ``match_error`` (unchecked for a language
    other than English, or a text the recogniser cannot judge)."""
    if not checkable(language) or not judgeable(text):
        return Check(checked=False)
    transcript = transcribe(x, rate)
    return Check(checked=True, word_error=round(match_error(text, transcript), 3), transcript=transcript)


def retake_voice(voice):
    """The voice a failed chunk is spoken again with: Piper draws new noise on every call (same
    voice); a Kokoro voice (it has a ``speed``) is slowed by RETAKE_SPEED."""
    speed = getattr(voice, "speed", None)
    if speed is None:
        return voice
    return dataclasses.replace(voice, speed=round(speed * RETAKE_SPEED, 3))


def unload_if_idle(idle_seconds: float) -> bool:
    """Drop the decoders (≈ 90 MB of RSS each, mostly the language model) after ``idle_seconds``
    without a check, as the backends drop their models (engine.app's idle unloader)."""
    return _DECODERS.unload_if_idle(idle_seconds)


@dataclass(frozen=True)
class Take:
    """The audio kept for a chunk, its check, and whether the chunk was spoken twice."""

    audio: np.ndarray
    check: Check
    respoken: bool = False


def take_verified(
    text: str,
    speak,
    voice,
    *,
    rate: int,
    language: str | None,
    cancelled: threading.Event | None = None,
    before: Heard | None = None,
) -> Take:
    """``speak(voice)`` once and hear it back; if it fails, once more with ``retake_voice(voice)``,
    and keep the take with the lower word error (the first on a tie). Only the kept take is sent,
    so a chunk spoken twice is delivered, and billed, once. With ``before``, the recogniser hears
    those chunks and then this one, against both texts (a short chunk judged in context)."""

    def heard(audio: np.ndarray) -> Check:
        if before is None:
            return check(text, audio, rate, language=language)
        context = before.then(text, audio)
        return check(context.text, context.audio, rate, language=language)

    audio = speak(voice)
    first = heard(audio)
    if first.passed is not False or (cancelled is not None and cancelled.is_set()):
        return Take(audio, first)
    again = speak(retake_voice(voice))
    if cancelled is not None and cancelled.is_set():
        return Take(audio, first, respoken=True)
    second = heard(again)
    return Take(again, second, respoken=True) if second.better_than(first) else Take(audio, first, respoken=True)
