"""Normalised text through a real engine (Joe, Piper), heard by pocketsphinx: "$5.50 on
12/01/2026", units, a web address and a written date are heard as the words a person would say,
where the engine alone (espeak's own reading) says "five point five zero", "twelve slash zero one",
"five K M", "H T T P S colon slash slash" and "Dec one two thousand twenty six"."""

from __future__ import annotations

import pytest

from core.markup import Said, markup_parse
from core.normalize import script_normalize
from engine.client import Audio
from tests.audio_checks import normalize_text, pcm_to_wav, transcribe, word_error_rate

pytestmark = [pytest.mark.engine, pytest.mark.timeout(300)]

VOICE = "EN-MALE-1-NEUTRAL"
# (input, the words a listener should hear, words heard when the engine reads the input alone).
CASES = [
    (
        "It costs $5.50 on 12/01/2026.",
        "it costs five dollars fifty on december first twenty twenty six",
        {"point", "zero"},
    ),
    ("The run was 5 km at 100 km/h.", "the run was five kilometers at one hundred kilometers per hour", {"k"}),
    ("See https://example.com/docs today.", "see example dot com slash docs today", {"t", "p"}),
    (
        "The meeting is at 3:30 pm on Dec 1, 2026.",
        "the meeting is at three thirty p m on december first twenty twenty six",
        {"thousand"},
    ),
]
# Measured: pocketsphinx mishears a word or two of Joe's (0.1-0.3); the engine alone, 0.4-0.9.
WORD_ERROR = 0.35
KEY_WORDS = {"dollars", "december", "first", "kilometers", "per", "hour", "example"}
# The address is the exception: pocketsphinx hears "see" as "the" and "docs" as "docks" in every
# take, and "dot com slash" as "but com", "by accomplished" or "flashbacks" in 7 of 20 (measured),
# so there its word error is held below the engine's own reading's (1.4-1.7: "h t t p s colon ...").
WORD_ERROR_ADDRESS = 0.72  # the misses measured were 0.43-0.71


def _heard(client, text: str) -> str:
    pcm = b"".join(e.pcm for e in client.synthesize(text, VOICE, temperature=0.1) if isinstance(e, Audio))
    return normalize_text(transcribe(pcm_to_wav(pcm)))


# pocketsphinx mishears a whole phrase of a take now and then ("five dollars fifty" as "by bow or
# split pea": 2 of 12 takes, measured; the address 7 of 20), so the normalised text is judged by
# the best of three takes: one clear take of three shows what is said. The engine alone never says
# the words in any take (its letters and "point zero" are in every one).
TAKES = 3


def _heard_best(client, text: str, words: str) -> str:
    return min((_heard(client, text) for _ in range(TAKES)), key=lambda heard: word_error_rate(words, heard))


@pytest.mark.parametrize(("text", "words", "engine_alone"), CASES, ids=["money-date", "units", "url", "time-date"])
def test_normalised_forms_are_heard_as_their_words(client, text, words, engine_alone):
    spoken = "".join(p.text for p in script_normalize(markup_parse(text), language="en") if isinstance(p, Said))
    heard = _heard_best(client, spoken, words)
    limit = WORD_ERROR_ADDRESS if "slash" in words else WORD_ERROR
    assert word_error_rate(words, heard) <= limit, (spoken, heard)
    key_words = KEY_WORDS & set(words.split())
    assert key_words <= set(heard.split()), (spoken, heard)
    assert not engine_alone & set(heard.split()), (spoken, heard)
    # What normalisation adds: read alone, the engine says something else. (Not "the key words are
    # missing": alone, the address's words are sometimes heard too, among the letters spelled.)
    alone = _heard(client, text)
    assert engine_alone <= set(alone.split()), (text, alone)
    assert word_error_rate(words, alone) > max(WORD_ERROR, word_error_rate(words, heard)), (text, alone, heard)
