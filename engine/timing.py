"""Word timings: when each word of a chunk is said, from the model's phoneme durations.

Piper's graph computes how many audio frames each phoneme id lasts (its ``w_ceil`` tensor), and
Kokoro's how many each token does (its duration predictor's); each backend exposes that tensor as
an output and reads it with the audio, and makes each phoneme's span from it (Kokoro its own,
Piper with ``piper_phonemes``). This module turns the spans into words:

- ``piper_phonemes``: a Piper sentence's phonemes with their sample spans (Piper puts the pad after
  a phoneme in that phoneme, as its own ``PhonemeAlignment`` does);
- ``spoken_words``: the phoneme words (espeak separates words with a space; punctuation is a pause,
  not part of a word);
- ``words_align``: the chunk's text words (``text_words``) onto the phoneme words: one to one when
  the counts agree, else by what espeak says for each word alone (``"42"`` is two phoneme words),
  else in proportion to each word's phonemes;
- ``SourceLocator``: a chunk's words back to character offsets in the request's own text (chunks
  are cut from the cleaned text: NFKC, whitespace collapsed).

Times are seconds; the backend scales them to the audio it returns (transform, resampling,
stretch), and the app offsets them by the audio sent before the chunk.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from engine.protocol import Word
from engine.text import Run

BOS, EOS, PAD = "^", "$", "_"  # Piper's (piper.const)
_TOKEN = re.compile(r"\S+")


@dataclass(frozen=True)
class Spoken:
    """A chunk's audio (float32 mono, 24 kHz) and its words' timings (None: the backend has none)."""

    audio: np.ndarray
    words: list[Word] | None


@dataclass(frozen=True)
class Phoneme:
    symbol: str
    start: int  # samples at the model's rate
    end: int


def is_pause(symbol: str) -> bool:
    return symbol == " " or all(unicodedata.category(ch)[0] in "PZ" for ch in symbol)


def text_words(text: str) -> list[tuple[int, int]]:
    """Spans of the words of ``text``: runs without spaces that hold a letter or digit, less their
    leading and trailing punctuation ("friend." -> "friend"; "don't" and "3.14" stay whole)."""
    spans = []
    for m in _TOKEN.finditer(text):
        start, end = m.span()
        while start < end and not text[start].isalnum():
            start += 1
        while end > start and not text[end - 1].isalnum():
            end -= 1
        if start < end:
            spans.append((start, end))
    return spans


def piper_phonemes(
    phonemes: Sequence[str], id_samples: np.ndarray, id_map: Mapping[str, Sequence[int]], offset: int = 0
) -> list[Phoneme]:
    """Each phoneme of a sentence (as ``piper.phoneme_ids.phonemes_to_ids`` reads it: unknown ones
    skipped) and its samples, ``offset`` added; ``id_samples``: samples per phoneme id."""
    pad = len(id_map[PAD])
    idx = len(id_map[BOS]) + pad
    pos = offset + int(np.sum(id_samples[:idx]))
    out = []
    for symbol in phonemes:
        ids = id_map.get(symbol)
        if not ids:
            continue
        n = len(ids) + pad
        length = int(np.sum(id_samples[idx : idx + n]))
        out.append(Phoneme(symbol, pos, pos + length))
        idx += n
        pos += length
    return out


def spoken_words(phonemes: Sequence[Phoneme]) -> list[list[Phoneme]]:
    """The phoneme words: runs between spaces, without punctuation (a pause, not a sound). A word
    starts where the space before it starts: Piper's space token is the next word's onset (with it
    pocketsphinx's forced alignment and the engine agree to ~20 ms in the median, without it the
    words came ~50 ms late)."""
    words: list[list[Phoneme]] = [[]]
    space: Phoneme | None = None
    for p in phonemes:
        if p.symbol == " ":
            if words[-1]:
                words.append([])
            space = p
        elif not is_pause(p.symbol):
            if not words[-1] and space is not None:
                p = replace(p, start=space.start)
            words[-1].append(p)
    return [w for w in words if w]


def phoneme_words(phonemes: str) -> list[list[str]]:
    """A phoneme string's words, each a list of its phonemes (what ``words_align``'s
    ``phonemize_word`` gives for a word said alone)."""
    return [list(w) for w in phonemes.split(" ") if any(not is_pause(ch) for ch in w)]


def words_align(
    text: str,
    spoken: Sequence[Sequence[Phoneme]],
    rate: float,
    phonemize_word: Callable[[str], list[list[str]]] | None = None,
) -> list[Word]:
    """The words of ``text`` timed by the phoneme words ``spoken`` (samples at ``rate``), every
    word present and in order. ``phonemize_word`` (a word alone -> its phoneme words) is asked only
    when the counts differ."""
    spans = text_words(text)
    if not spans or not spoken:
        return []

    def word(span: tuple[int, int], first: Phoneme, last: Phoneme) -> Word:
        return Word(text[span[0] : span[1]], first.start / rate, last.end / rate, span[0], span[1])

    if len(spans) == len(spoken):
        return [word(s, w[0], w[-1]) for s, w in zip(spans, spoken, strict=True)]
    alone = [phonemize_word(text[a:b]) if phonemize_word else [] for a, b in spans]
    if phonemize_word and sum(len(a) for a in alone) == len(spoken):
        out, i = [], 0
        for span, parts in zip(spans, alone, strict=True):
            if parts:
                out.append(word(span, spoken[i][0], spoken[i + len(parts) - 1][-1]))
                i += len(parts)
            else:  # espeak says nothing for it alone: a point in time where it falls
                at = spoken[min(i, len(spoken) - 1)][0]
                out.append(word(span, at, at))
        return out
    # Words and sounds disagree: each word takes its share of the phonemes, by its length spoken.
    flat = [p for w in spoken for p in w]
    weights = [max(1, sum(len(p) for p in a)) if a else max(1, b - s) for a, (s, b) in zip(alone, spans, strict=True)]
    bounds = np.round(np.cumsum([0, *weights]) / sum(weights) * len(flat)).astype(int)
    out = []
    for k, span in enumerate(spans):
        lo = min(int(bounds[k]), len(flat) - 1)
        hi = max(lo, int(bounds[k + 1]) - 1)
        out.append(word(span, flat[lo], flat[min(hi, len(flat) - 1)]))
    return out


def words_scale(words: Sequence[Word], factor: float, offset: float = 0.0) -> list[Word]:
    """Times multiplied by ``factor`` (the audio made longer or shorter), then ``offset`` added."""
    return [replace(w, start=w.start * factor + offset, end=w.end * factor + offset) for w in words]


def words_cut(words: Sequence[Word], seconds: float) -> list[Word]:
    """The words begun before ``seconds`` (where a take is cut), ends held to it."""
    return [replace(w, end=min(w.end, seconds)) for w in words if w.start < seconds]


class SourceLocator:
    """Finds the words of successive chunks in the request's text, in order. A chunk's text is
    the cleaned input (NFKC): both sides are compared in NFKD, character by character, so a
    full-width letter or a ligature in the input still matches."""

    def __init__(self, source: str) -> None:
        parts = []
        self._index: list[int] = []  # NFKD position -> source position
        for i, ch in enumerate(source):
            d = unicodedata.normalize("NFKD", ch)
            parts.append(d)
            self._index.extend([i] * len(d))
        self._view = "".join(parts)
        self._cursor = 0

    def locate(self, text: str) -> tuple[int, int] | None:
        """``text``'s span in the source after the last one found; None if it is not there."""
        needle = unicodedata.normalize("NFKD", text)
        at = self._view.find(needle, self._cursor) if needle else -1
        if at < 0:
            return None
        self._cursor = at + len(needle)
        return self._index[at], self._index[at + len(needle) - 1] + 1

    def skip(self, chunk_text: str) -> None:
        """Move past a chunk that is not spoken (a resumed request's first chunks)."""
        for a, b in text_words(chunk_text):
            self.locate(chunk_text[a:b])

    def place(self, words: Sequence[Word]) -> list[Word]:
        """A chunk's words with offsets into the source (a word not found keeps the position of
        the last one found, an empty span)."""
        out = []
        for w in words:
            span = self.locate(w.text)
            if span is None:
                at = self._index[self._cursor - 1] + 1 if self._cursor else 0
                span = (at, at)
            out.append(replace(w, char_start=span[0], char_end=span[1]))
        return out


class RunLocator:
    """``SourceLocator`` for a script (engine/text.py ``Run``): a chunk's words are found in its
    run's text, then mapped to the request's text through the run's spans: a verbatim piece's
    words to their own characters, any other piece's words to the piece's whole span."""

    def __init__(self) -> None:
        self._run: Run | None = None
        self._locator = SourceLocator("")

    def _for(self, run: Run) -> SourceLocator:
        if run is not self._run:
            self._run, self._locator = run, SourceLocator(run.text)
        return self._locator

    def skip(self, run: Run, chunk_text: str) -> None:
        self._for(run).skip(chunk_text)

    def place(self, run: Run, words: Sequence[Word]) -> list[Word]:
        placed = self._for(run).place(words)
        return [
            replace(w, char_start=a, char_end=b) for w in placed for a, b in [_source_at(run, w.char_start, w.char_end)]
        ]


def _source_at(run: Run, start: int, end: int) -> tuple[int, int]:
    """The request text's span of the run text's ``start``..``end``."""
    for a, b, source_start, source_end, verbatim in run.spans:
        if a <= start <= b and (start < b or start == end):
            if not verbatim:
                return source_start, source_end
            return source_start + start - a, source_start + min(end, b) - a
    last = run.spans[-1]
    return last[3], last[3]
