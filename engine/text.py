"""Text clean-up and chunking for synthesis.

``clean_text`` makes any input safe for espeak-ng/Piper: Unicode NFKC, control
and format characters removed, emoji and other pictographs dropped (espeak
would otherwise read "grinning face"), Piper's ``[[ raw phoneme ]]`` escape
neutralised, whitespace collapsed.

``split_chunks`` cuts the text up front into sentence chunks; a sentence longer
than ``max_chars`` is split at clause punctuation, then at word boundaries,
and a single "word" longer than ``max_word`` characters is cut into pieces, so
no chunk is huge; the first chunk is kept under ``FIRST_CHUNK_CHARS`` for a quick
first audio (each chunk is one model call, and the unit of progress and
of cancellation).

``first_phrase_split`` goes further for a request's first chunk (issue 18): a short phrase of
the first sentence, cut at its first clause (comma, semicolon, colon, dash) within
``FIRST_PHRASE_MAX_WORDS`` words or else after about ``FIRST_PHRASE_WORDS`` words, so that the
first audio waits for a few words' synthesis, not a sentence's; the rest of the first sentence is
the next chunk, then whole sentences again. A take that reaches its caller only whole (the
request's ``whole``) has no first audio to hurry: it keeps its first sentence whole
(``first_short=False``), so it makes as many model calls as Piper alone would.

Japanese (``language="ja"``) writes no spaces: a sentence ends at 。!? with or without one, a
clause at 、, and chunks are shorter, as a character says more there (a kanji is often two or three
morae): at most ``JA_MAX_CHUNK_CHARS``, the first at most ``JA_FIRST_CHUNK_CHARS``.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple

# espeak-ng keeps its state in globals (the voice set, the text being read): one phonemisation at
# a time in the process, whichever backend asks.
ESPEAK_LOCK = threading.Lock()

MAX_CHUNK_CHARS = 240
MAX_WORD_CHARS = 40
FIRST_CHUNK_CHARS = 100  # a shorter first chunk gets the first audio out sooner
# About as much speech as English's limits (measured: ~0.15 s of Kokoro speech a character).
JA_MAX_CHUNK_CHARS = 100
JA_FIRST_CHUNK_CHARS = 40
# The first phrase (issue 18): a clause ending within this many words is the first chunk; else
# about this many words are; a first sentence that would leave a shorter rest is kept whole (a
# one- or two-word tail sounds clipped, and saves nothing).
FIRST_PHRASE_MAX_WORDS = 6
FIRST_PHRASE_WORDS = 4
FIRST_PHRASE_MIN_REST_WORDS = 3
# Where no clause ends, the cut is put before a word that begins a phrase (a conjunction, a
# preposition, a relative word), and never after one of these or an article (a phrase cut from its
# noun): the seam falls where a reader may breathe.
_PHRASE_STARTS = frozenset(
    "and but or nor so yet because although though while when whenever where whereas if unless until "  # noqa: SIM905
    "since after before as than that which who whom whose what to of in on at by for from with without "
    "into onto over under about above below across through during against between among around".split()
)
_PHRASE_NEVER_ENDS = _PHRASE_STARTS | {"a", "an", "the", "my", "your", "his", "her", "its", "our", "their", "this"}
# Said as a number: digits, or a number in words (the web's normaliser writes them out).
_NUMBER_WORDS = frozenset(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "  # noqa: SIM905
    "sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety "
    "hundred thousand million billion trillion point".split()
)
_CLAUSE_MARKS = ",;:\u2014\u2013"
_CLOSERS = "\"'\u201d\u2019)]"

_WS = re.compile(r"\s+")
# Sentence end: terminal punctuation (with closing quotes/brackets) then space.
_SENTENCE_END = re.compile(r"(?<=[.!?\u2026\u3002\uff01\uff1f])[\"'\u201d\u2019)\]]*\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:\u2014\u2013])\s+|\s+(?=[\u2014\u2013-]\s)")
# NFKC has made the full-width ！？，：； ASCII already; 。、 and the corner brackets stay.
# A "." ends one only before a space (not in "3.14").
_JA_SENTENCE_END = re.compile(
    r"(?<=[!?\u2026\u3002])[\"'\u201d\u2019)\]\u300d\u300f]*\s*|(?<=\.)[\"'\u201d\u2019)\]]*\s+"
)
_JA_CLAUSE_END = re.compile(r"(?<=[,;:\u3001\u2014\u2013])\s*")


def _keep(ch: str) -> bool:
    cat = unicodedata.category(ch)
    if cat[0] == "C":  # Cc control, Cf format (ZWJ, BOM...), Cs, Co, Cn
        return False
    return cat not in ("So", "Sk")  # emoji, pictographs, modifier symbols


def clean_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    # Line/paragraph breaks end a sentence if nothing else does.
    text = re.sub(r"([^\s.!?,;:])[ \t]*(\r\n|\r|\n){2,}", r"\1. ", text)
    text = "".join(ch if _keep(ch) else (" " if ch in "\t\r\n\x0b\x0c" else "") for ch in text)
    text = text.replace("[[", " ").replace("]]", " ")
    return _WS.sub(" ", text).strip()


def _split_long_word(word: str, limit: int) -> list[str]:
    return [word[i : i + limit] for i in range(0, len(word), limit)]


def _pack_words(words: list[str], max_chars: int) -> list[str]:
    out, cur = [], ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > max_chars:
            out.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        out.append(cur)
    return out


def _split_sentence(sentence: str, max_chars: int, max_word: int, clause_end: re.Pattern = _CLAUSE_END) -> list[str]:
    words: list[str] = []
    for w in sentence.split(" "):
        words.extend(_split_long_word(w, max_word) if len(w) > max_word else [w])
    sentence = " ".join(words)
    if len(sentence) <= max_chars:
        return [sentence]
    # Clause punctuation first, then pack words.
    pieces: list[str] = []
    for clause in clause_end.split(sentence):
        clause = clause.strip()
        if not clause:
            continue
        if len(clause) <= max_chars:
            pieces.append(clause)
        else:
            words = [part for w in clause.split(" ") for part in _split_long_word(w, max_chars)]
            pieces.extend(_pack_words(words, max_chars))
    # Re-merge small neighbouring clauses so chunks are not needlessly tiny.
    merged: list[str] = []
    for p in pieces:
        if merged and len(merged[-1]) + 1 + len(p) <= max_chars:
            merged[-1] = f"{merged[-1]} {p}"
        else:
            merged.append(p)
    return merged


def split_chunks(
    text: str,
    max_chars: int = MAX_CHUNK_CHARS,
    max_word: int = MAX_WORD_CHARS,
    first_max_chars: int = FIRST_CHUNK_CHARS,
    language: str = "en",
    *,
    first_short: bool = True,
) -> list[str]:
    """Clean ``text`` and split it into speakable chunks (may be empty).

    With ``first_short`` the first chunk is held to ``first_max_chars`` (split at a clause or
    between words) so that the first audio arrives quickly; without it (a take delivered only
    whole) it is a sentence like the others, as each chunk is one more model call."""
    text = clean_text(text)
    if not text:
        return []
    sentence_end, clause_end, first_max_word = _SENTENCE_END, _CLAUSE_END, max_word
    if language == "ja":
        sentence_end, clause_end = _JA_SENTENCE_END, _JA_CLAUSE_END
        max_chars, first_max_chars = min(max_chars, JA_MAX_CHUNK_CHARS), min(first_max_chars, JA_FIRST_CHUNK_CHARS)
        # No spaces between words: a run is cut only where even its clause is too long.
        max_word = first_max_word = len(text)
    chunks: list[str] = []
    for sentence in sentence_end.split(text):
        sentence = sentence.strip()
        if sentence:
            chunks.extend(_split_sentence(sentence, max_chars, max_word, clause_end))
    if first_short and chunks and len(chunks[0]) > first_max_chars:
        chunks[0:1] = _split_sentence(chunks[0], first_max_chars, first_max_word, clause_end)
    return chunks


def _bare(word: str) -> str:
    return word.strip(_CLOSERS + _CLAUSE_MARKS + "\"'(\u201c\u2018[.!?").lower()


def _spoken(word: str) -> bool:
    return any(ch.isalnum() for ch in word)


def _numeric(word: str) -> bool:
    bare = _bare(word)
    return any(ch.isdigit() for ch in bare) or any(part in _NUMBER_WORDS for part in bare.split("-"))


def _clause_end(word: str) -> bool:
    """A word ending in clause punctuation, or a dash standing alone."""
    word = word.rstrip(_CLOSERS)
    return bool(word) and (word[-1] in _CLAUSE_MARKS or word == "-")


def _first_phrase_words(words: list[str]) -> int | None:
    """How many of the first sentence's ``words`` make the first phrase, or None (kept whole)."""

    def rest_ok(k: int) -> bool:
        return sum(map(_spoken, words[k:])) >= FIRST_PHRASE_MIN_REST_WORDS and any(map(_spoken, words[:k]))

    for k in range(1, min(FIRST_PHRASE_MAX_WORDS, len(words)) + 1):
        if _clause_end(words[k - 1]):
            return k if rest_ok(k) else None
    if sum(map(_spoken, words)) <= FIRST_PHRASE_MAX_WORDS:
        return None  # a sentence no longer than a phrase is said whole
    candidates = [k for k in (FIRST_PHRASE_WORDS, FIRST_PHRASE_WORDS + 1, FIRST_PHRASE_WORDS - 1) if rest_ok(k)]
    # Never inside a number ("twenty | three", "3 | 000"), nor after an article or a preposition
    # ("to the | studio"): then the sentence is kept whole.
    candidates = [
        k
        for k in candidates
        if not (_numeric(words[k - 1]) and _numeric(words[k])) and _bare(words[k - 1]) not in _PHRASE_NEVER_ENDS
    ]
    return next((k for k in candidates if _bare(words[k]) in _PHRASE_STARTS), candidates[0] if candidates else None)


class FirstPhrase(NamedTuple):
    head: str  # the first phrase
    rest: str  # the rest of the text
    at_clause: bool  # cut after clause punctuation (its pause is the seam's), not between two words


def first_phrase_split(text: str, language: str = "en") -> FirstPhrase | None:
    """The cleaned ``text`` as its first phrase and the rest, or None where the first sentence is
    kept whole: too short to leave a rest of ``FIRST_PHRASE_MIN_REST_WORDS`` words, no good place
    to cut, or Japanese (which keeps its ``JA_FIRST_CHUNK_CHARS``). Only the words of one sentence
    are cut, at a space, so the same text splits the same way on every engine."""
    if language == "ja":
        return None
    text = clean_text(text)
    words = _SENTENCE_END.split(text, maxsplit=1)[0].strip().split(" ")
    k = _first_phrase_words(words) if len(words) > FIRST_PHRASE_MIN_REST_WORDS else None
    if k is None:
        return None
    head = " ".join(words[:k])
    return FirstPhrase(head, text[len(head) :].strip(), _clause_end(words[k - 1]))


# --- scripts (the SSML subset's pieces, engine/README.md "Script") ------------------------------


@dataclass(frozen=True)
class Say:
    """A piece of a script to say: ``text`` (or, with ``ipa``, those sounds: ``text`` is then the
    written word), standing for the request text's characters ``start``..``end``, at ``rate``
    times the request's speed."""

    text: str
    start: int
    end: int
    rate: float = 1.0
    ipa: str | None = None


@dataclass(frozen=True)
class Pause:
    """Silence of ``seconds`` at the request text's character ``at``."""

    seconds: float
    at: int


@dataclass(frozen=True)
class Run:
    """Pieces said in one go: one rate, no pause among them (a piece with IPA is a run alone).
    ``text`` is their texts joined by spaces; ``spans`` maps it back to the request's text:
    (start in ``text``, end in ``text``, start in the source, end in the source, verbatim), where
    a piece that is not the source's own characters (an alias, a number said in words) is not
    verbatim: its words take the piece's whole span."""

    text: str
    rate: float
    ipa: str | None
    spans: tuple[tuple[int, int, int, int, bool], ...]
    pause_before: float = 0.0  # silence before it (a script that begins with a pause)
    pause_after: float = 0.0  # silence after it


def script_runs(script: Sequence[Say | Pause], source: str) -> list[Run]:
    """The script's runs in order, each pause added after the run before it (or before the
    first run)."""
    runs: list[Run] = []
    pending: list[Say] = []
    lead = 0.0

    def flush() -> None:
        nonlocal lead
        if not pending:
            return
        text, spans, at = "", [], 0
        for k, say in enumerate(pending):
            if k:
                text += " "
                at += 1
            text += say.text
            verbatim = say.ipa is None and source[say.start : say.end] == say.text
            spans.append((at, at + len(say.text), say.start, say.end, verbatim))
            at += len(say.text)
        runs.append(Run(text, pending[0].rate, pending[0].ipa, tuple(spans), pause_before=lead if not runs else 0.0))
        lead = 0.0
        pending.clear()

    for piece in script:
        if isinstance(piece, Pause):
            flush()
            if runs:
                runs[-1] = replace(runs[-1], pause_after=runs[-1].pause_after + piece.seconds)
            else:
                lead += piece.seconds
        elif piece.ipa is not None or (pending and (pending[0].rate != piece.rate or pending[0].ipa is not None)):
            flush()
            pending.append(piece)
            if piece.ipa is not None:
                flush()
        else:
            pending.append(piece)
    flush()
    return runs
