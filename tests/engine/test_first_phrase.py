"""The first chunk is a short phrase (issue 18): the split rule (engine/text.py
``first_phrase_split``), and through a real engine with Joe (Piper), that a take whose first
sentence is said as a phrase and then its rest is as intelligible as the sentence said whole
(pocketsphinx), has no click and no long gap at the seam, and keeps its word timings; Kokoro keeps
its first sentence whole (it says fragments less clearly: engine/kokoro_engine.py), and so does a
take delivered only whole (``whole``: no first audio to hurry)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine.client import Audio, Done, EngineClient, Words
from engine.protocol import SAMPLE_RATE
from engine.text import FIRST_CHUNK_CHARS, FIRST_PHRASE_MAX_WORDS, first_phrase_split, split_chunks
from tests.audio_checks import pcm_to_wav, transcribe, word_error_rate, word_segments

MALE, KOKORO = "EN-MALE-1-NEUTRAL", "EN-FEMALE-1-NEUTRAL"
# Two cut at a comma, two between words; words in pocketsphinx's dictionary.
SENTENCES = [
    "Hello, and welcome to the studio.",
    "After a long day at work, she walked home through the quiet park.",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "We made this voice for people who want to listen while they read.",
]
WORD_SEAM_MAX = 0.150  # s of silence where the phrase was cut between two words
WER_SLACK = 0.06  # mean over the sentences' takes: about one word in the four sentences' 48


# --- the rule ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "head", "at_clause"),
    [
        ("Hello, and welcome to the studio. The rest follows.", "Hello,", True),
        ("After a long day at work, she walked home.", "After a long day at work,", True),
        ("Wait — there is one more thing to say.", "Wait —", True),
        # No clause soon: before a word that begins a phrase, near the fourth word.
        ("The quick brown fox jumps over the lazy dog.", "The quick brown fox jumps", False),
        ("We made this voice for people who want to listen.", "We made this voice", False),
        # Never inside a number.
        ("It costs twenty three dollars and fifty cents today.", "It costs twenty three dollars", False),
    ],
)
def test_the_first_chunk_is_a_short_phrase(text, head, at_clause):
    phrase = first_phrase_split(text)
    assert phrase is not None and (phrase.head, phrase.at_clause) == (head, at_clause)
    assert f"{phrase.head} {phrase.rest}" == text, "nothing lost, nothing added"
    # The rest is the rest of the first sentence, then whole sentences again.
    first_sentence = split_chunks(text)[0]
    assert split_chunks(phrase.rest)[0] == first_sentence[len(head) :].strip()


@pytest.mark.parametrize(
    "text",
    [
        "Thank you.",  # too short to cut
        "Well, yes.",  # a clause that leaves a tail of one word
        "Welcome to the new studio today.",  # no longer than a phrase
        "Go up to the top of it.",  # only cuts after a preposition or an article
        "We paid twenty three thousand five hundred euros for it.",  # only cuts inside a number
        "",
    ],
)
def test_a_first_sentence_without_a_good_cut_is_kept_whole(text):
    assert first_phrase_split(text) is None


def test_japanese_keeps_its_own_first_chunk_rule():
    assert first_phrase_split("今日はいい天気ですね、明日も晴れるでしょう。", language="ja") is None


def test_the_split_is_the_same_every_time_and_never_longer_than_a_phrase():
    """Chunk numbers must agree across engines (start_chunk resumes on another one)."""
    for text in SENTENCES:
        phrase = first_phrase_split(text)
        assert phrase is not None and phrase == first_phrase_split(text)
        assert len(phrase.head.split()) <= FIRST_PHRASE_MAX_WORDS
        assert len(phrase.rest.split()) >= 3


# --- through a real engine --------------------------------------------------------------------


def _take(
    client: EngineClient, text: str, voice: str, *, whole: bool = False
) -> tuple[np.ndarray, int, list[Words], Done]:
    """The take's samples, where its first chunk ends (the seam), its W frames and its end."""
    events = list(client.synthesize(text, voice, temperature=0.1, whole=whole))
    first = sum(
        len(e.pcm) for e in itertools.takewhile(lambda e: not isinstance(e, Words), events) if isinstance(e, Audio)
    )
    pcm = b"".join(e.pcm for e in events if isinstance(e, Audio))
    done = events[-1]
    assert isinstance(done, Done)
    x = np.frombuffer(pcm, "<i2").astype(np.float32) / 32767.0
    return x, first // 2, [e for e in events if isinstance(e, Words)], done


def _silence_around(x: np.ndarray, at: int, level: float = 0.01) -> float:
    """Seconds of quiet (under ``level``) that sample ``at`` lies in."""
    loud = np.flatnonzero(np.abs(x) > level)
    before, after = loud[loud < at], loud[loud >= at]
    start = int(before[-1]) + 1 if before.size else 0
    end = int(after[0]) if after.size else x.size
    return (end - start) / SAMPLE_RATE


def _longest_inner_silence(x: np.ndarray, level: float = 0.01) -> float:
    loud = np.flatnonzero(np.abs(x) > level)
    return float(np.diff(loud).max() - 1) / SAMPLE_RATE if loud.size > 1 else 0.0


@pytest.fixture(scope="module")
def backends():
    """The engine's own backends in this process, for the sentence said whole (one chunk) to
    compare with: the engine itself now always says it as a phrase first."""
    from engine.backends import Backends

    return Backends.create(("piper",), idle_unload_seconds=600.0, threads=2)


def _whole(backends, text: str, voice: str) -> np.ndarray:
    resolved = backends.resolve(voice)
    (chunk,) = resolved.backend.prepare(text)
    return resolved.backend.synthesize_chunk(chunk, resolved.voice, 0.1)


def _pcm(x: np.ndarray) -> bytes:
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


@pytest.mark.engine
@pytest.mark.timeout(600)
def test_a_phrase_first_is_as_intelligible_with_no_click_and_no_gap_at_the_seam(client, backends):
    voice = MALE
    split_errors, whole_errors = [], []
    for text in SENTENCES:
        phrase = first_phrase_split(text)
        assert phrase is not None
        for _ in range(2):  # Piper samples noise: two takes each
            x, seam, chunks, _ = _take(client, text, voice)
            assert [c.chunk for c in chunks] == [1, 2], "the phrase, then the rest of the sentence"
            assert [w.text for w in chunks[0].words] == phrase.head.rstrip(",").split()
            whole = _whole(backends, text, voice)
            split_errors.append(word_error_rate(text, transcribe(pcm_to_wav(_pcm(x)))))
            whole_errors.append(word_error_rate(text, transcribe(pcm_to_wav(_pcm(whole)))))

            # No click: in the 10 ms around the seam no sample jump above the take's own (its
            # 99th percentile) and no more energy than the take's.
            window = x[seam - SAMPLE_RATE // 200 : seam + SAMPLE_RATE // 200]
            assert np.abs(np.diff(window)).max() <= np.percentile(np.abs(np.diff(x)), 99), text
            assert np.sqrt(np.mean(window**2)) <= np.sqrt(np.mean(x**2)), text
            # No long gap: between two words a word's gap; at a comma about the comma's pause of
            # the sentence said whole (its longest silence inside).
            gap = _silence_around(x, seam)
            if phrase.at_clause:
                comma = _longest_inner_silence(whole)
                assert 0.5 * comma <= gap <= comma + 0.06, (text, gap, comma)
            else:
                assert gap <= WORD_SEAM_MAX, (text, gap)
    assert np.mean(split_errors) <= np.mean(whole_errors) + WER_SLACK, (split_errors, whole_errors)


@pytest.mark.engine
@pytest.mark.timeout(300)
def test_words_are_timed_where_pocketsphinx_hears_them_across_the_seam(client):
    from tests.engine.test_timing import MEDIAN_START_ERROR

    errors = []
    for text in SENTENCES:
        x, _, chunks, done = _take(client, text, MALE)
        words = [w for c in chunks for w in c.words]
        starts = [w.start for w in words]
        assert all(a < b for a, b in itertools.pairwise(starts)) and words[-1].end <= done.seconds + 1e-3
        assert chunks[1].words[0].start >= max(w.end for w in chunks[0].words)
        heard = word_segments(pcm_to_wav(_pcm(x)), text)
        assert [h[0] for h in heard] == [w.text.lower() for w in words]
        errors.extend(abs(w.start - h[1]) for w, h in zip(words, heard, strict=True))
    assert float(np.median(errors)) <= MEDIAN_START_ERROR


@pytest.mark.engine
@pytest.mark.timeout(300)
def test_kokoro_keeps_its_first_sentence_whole(client):
    for text in SENTENCES[:2]:
        _, _, chunks, _ = _take(client, text, KOKORO)
        assert [c.chunk for c in chunks] == [1]
        assert [w.text for w in chunks[0].words] == text.replace(",", "").rstrip(".").split()


# A first sentence longer than the first chunk a quick start allows (FIRST_CHUNK_CHARS), then another.
LONG_FIRST = (
    "Long texts are split into chunks at sentence boundaries, and very long sentences are split again "
    "at commas or between words. Progress is reported before every chunk."
)


def test_a_take_delivered_whole_keeps_its_first_sentence_whole():
    first = split_chunks(LONG_FIRST, first_short=False)[0]
    assert len(first) > FIRST_CHUNK_CHARS and first.endswith("between words.")
    assert split_chunks(LONG_FIRST)[0] != first, "a quick start cuts it"


@pytest.mark.engine
@pytest.mark.timeout(300)
def test_a_whole_delivery_speaks_its_first_sentence_as_one_chunk(client):
    """tts_non_stream and the legacy /tts (``whole``): the first chunk is the whole first sentence,
    its words timed in order, and the same text always splits the same way (start_chunk)."""
    for text in [SENTENCES[0], LONG_FIRST]:
        sentences = [s for s in text.split(". ") if s]
        _, _, chunks, done = _take(client, text, MALE, whole=True)
        assert [c.chunk for c in chunks] == list(range(1, len(sentences) + 1))
        said = [[w.text for w in c.words] for c in chunks]
        assert said == [s.replace(",", "").rstrip(".").split() for s in sentences]
        starts = [w.start for c in chunks for w in c.words]
        assert all(a < b for a, b in itertools.pairwise(starts)) and chunks[-1].words[-1].end <= done.seconds + 1e-3
        if len(said) == 1:
            continue
        # Resumed on another engine: the second chunk is the same sentence.
        resumed = [e for e in client.synthesize(text, MALE, whole=True, start_chunk=1) if isinstance(e, Words)]
        assert [(e.chunk, [w.text for w in e.words]) for e in resumed] == [(c, w) for c, w in enumerate(said, 1)][1:]
