"""Word timings (engine/timing.py): the mapping of phoneme words to the text's words, the ``W``
frame, and Piper's and Kokoro's timings through a real engine checked against pocketsphinx's forced
alignment."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from engine import protocol as proto
from engine import timing
from engine.client import Audio, Done, Words
from tests.audio_checks import pcm_to_wav, word_segments

pytestmark = [pytest.mark.engine, pytest.mark.timeout(300)]

MALE, KOKORO = "EN-MALE-1-NEUTRAL", "EN-FEMALE-1-NEUTRAL"
# Two sentences (Piper: three chunks, the first phrase "The quick brown fox jumps" the first), words
# in pocketsphinx's dictionary.
TWO = (
    "The quick brown fox jumps over the lazy dog near the river bank. "
    "After that, every child in the small village went home to sleep."
)
MEDIAN_START_ERROR = 0.080  # seconds (issue 17)


def _phoneme_words(*words: str, rate: int = 100) -> list[list[timing.Phoneme]]:
    """Phoneme words of one phoneme a letter, each letter 1/rate s, a space's worth between words."""
    out, at = [], 0
    for w in words:
        out.append([timing.Phoneme(ch, at + i, at + i + 1) for i, ch in enumerate(w)])
        at += len(w) + 1
    return out


def test_text_words_drop_punctuation_around_a_word_not_inside_it():
    text = '"Hello," she said — don\'t pay 3.14 (today)!'
    assert [text[a:b] for a, b in timing.text_words(text)] == ["Hello", "she", "said", "don't", "pay", "3.14", "today"]


def test_spoken_words_split_at_spaces_and_leave_out_pauses():
    phonemes = [timing.Phoneme(s, i, i + 1) for i, s in enumerate(["h", "a", ",", " ", "b", "ˈ", "o", "."])]
    words = timing.spoken_words(phonemes)
    assert [[p.symbol for p in w] for w in words] == [["h", "a"], ["b", "ˈ", "o"]]


def test_words_align_one_to_one_when_the_counts_agree():
    words = timing.words_align("Hello there.", _phoneme_words("hɛlo", "ðɛɹ"), rate=100)
    assert [(w.text, w.start, w.end, w.char_start, w.char_end) for w in words] == [
        ("Hello", 0.0, 0.04, 0, 5),
        ("there", 0.05, 0.08, 6, 11),
    ]


def test_words_align_groups_what_espeak_says_as_several_words():
    """ "42" is two phoneme words ("forty two"): asked alone, espeak says so, and it gets both."""
    alone = {"It": [["ɪ", "t"]], "is": [["ɪ", "z"]], "42": [["f", "ɔ"], ["t", "u"]], "now": [["n", "a"]]}
    spoken = _phoneme_words("ɪt", "ɪz", "fɔ", "tu", "na")
    words = timing.words_align("It is 42 now.", spoken, rate=100, phonemize_word=lambda w: alone[w])
    assert [w.text for w in words] == ["It", "is", "42", "now"]
    assert (words[2].start, words[2].end) == (spoken[2][0].start / 100, spoken[3][-1].end / 100)


def test_words_align_shares_out_the_phonemes_when_nothing_agrees():
    words = timing.words_align("one two three", _phoneme_words("wʌntu", "θɹi"), rate=100, phonemize_word=None)
    assert [w.text for w in words] == ["one", "two", "three"]
    starts = [w.start for w in words]
    assert starts == sorted(starts) and all(w.end >= w.start for w in words)


def test_the_source_locator_finds_chunk_words_in_the_raw_input():
    """Chunks come from the cleaned text (NFKC, spaces collapsed, emoji gone); offsets are the
    input's."""
    source = "Ｈｅｌｌｏ   😀 wide\tworld. The ﬁnal word."
    locator = timing.SourceLocator(source)
    first = locator.place([timing.Word(t, 0, 0, 0, 0) for t in ("Hello", "wide", "world")])
    assert [source[w.char_start : w.char_end] for w in first] == ["Ｈｅｌｌｏ", "wide", "world"]
    locator.skip("The")  # a chunk not spoken (resumed): its words are passed over
    second = locator.place([timing.Word(t, 0, 0, 0, 0) for t in ("final", "word")])
    assert [source[w.char_start : w.char_end] for w in second] == ["ﬁnal", "word"]


def test_the_words_frame_round_trips_and_old_readers_skip_it():
    words = (timing.Word("Hi", 0.0123, 0.2, 0, 2), timing.Word("there", 0.25, 0.61, 3, 8))
    frame = proto.encode_event(proto.Words(1, words))
    assert frame[:1] == proto.WORDS
    (event,) = proto.decode_events(frame)
    assert event == proto.Words(1, (timing.Word("Hi", 0.012, 0.2, 0, 2), words[1]))
    # A reader of before word timings knows no W frame: frame_to_event's rule for those, None.
    assert proto.frame_to_event(proto.Frame(b"X", frame[5:])) is None


# --- through a real engine (Piper, Kokoro) -------------------------------------------------------


def _timed(client, text: str, **kw) -> tuple[list[Words], bytes, Done]:
    events = list(client.synthesize(text, kw.pop("voice", MALE), temperature=0.1, **kw))
    pcm = b"".join(e.pcm for e in events if isinstance(e, Audio))
    done = events[-1]
    assert isinstance(done, Done)
    return [e for e in events if isinstance(e, Words)], pcm, done


def _clone() -> dict:
    """A WORLD speaker profile (Joe re-voiced: pitch, formants), as a clone of a woman speaks."""
    from engine.piper_engine import female_base

    return female_base().to_profile("female")


@pytest.mark.parametrize(
    ("voice", "speed", "clone"),
    [
        (MALE, 1.0, False),
        (MALE, 0.75, False),
        (MALE, 1.5, False),
        (MALE, 1.0, True),
        (KOKORO, 1.0, False),
        (KOKORO, 0.75, False),
        (KOKORO, 1.5, False),
    ],
    ids=["piper-1", "piper-0.75", "piper-1.5", "piper-clone", "kokoro-1", "kokoro-0.75", "kokoro-1.5"],
)
def test_every_word_is_timed_where_pocketsphinx_hears_it(client, voice, speed, clone):
    """Piper at speeds that take its own pace and the time-stretch, and through a clone's WORLD
    transform; Kokoro at its own speeds."""
    kw = {"profile": _clone()} if clone else {"voice": voice}
    chunks, pcm, done = _timed(client, TWO, speed=speed, **kw)
    # Piper (Joe, a clone) says the first phrase as a chunk of its own; Kokoro the sentence.
    expected_chunks = [1, 2] if voice == KOKORO and not clone else [1, 2, 3]
    assert [c.chunk for c in chunks] == expected_chunks, "one W frame after each chunk"
    words = [w for c in chunks for w in c.words]
    # Every word of the input, in order, with its offsets into it.
    expected = [TWO[a:b] for a, b in timing.text_words(TWO)]
    assert [w.text for w in words] == expected
    assert [TWO[w.char_start : w.char_end] for w in words] == expected
    starts = [w.start for w in words]
    assert all(a < b for a, b in itertools.pairwise(starts)), starts
    assert all(w.start <= w.end for w in words)
    assert starts[0] >= 0 and words[-1].end <= done.seconds + 1e-3
    # Each chunk's words are in the take's time: after the chunk before's audio (across the
    # first phrase's seam too, where the phrase's last word may end as the next begins).
    for before, after in itertools.pairwise(chunks):
        assert after.words[0].start >= max(w.end for w in before.words)
    assert chunks[-1].words[0].start > max(w.end for w in chunks[-2].words), "a sentence's end is heard"
    # An independent aligner puts the words where the engine says.
    heard = word_segments(pcm_to_wav(pcm), TWO)
    assert [h[0] for h in heard] == [w.lower() for w in expected]
    errors = np.abs(np.array(starts) - np.array([h[1] for h in heard]))
    assert float(np.median(errors)) <= MEDIAN_START_ERROR, list(zip(expected, starts, heard, strict=True))


def test_a_resumed_take_offsets_its_words_into_the_whole_input(client):
    """start_chunk skips the first chunks (the first phrase and the rest of its sentence): the
    words are the third's, their offsets the input's."""
    chunks, _, _ = _timed(client, TWO, start_chunk=2)
    assert [c.chunk for c in chunks] == [3]
    words = chunks[0].words
    assert words[0].text == "After" and words[0].char_start == TWO.index("After")
    assert words[0].start < 0.5, "the take starts with the third chunk"


def test_truncated_words_stop_at_the_cut(client):
    chunks, _, done = _timed(client, TWO, max_seconds=2.0)
    assert done.truncated
    words = [w for c in chunks for w in c.words]
    assert words and all(w.start < done.seconds and w.end <= done.seconds + 1e-3 for w in words)
    assert len(words) < len(timing.text_words(TWO))


def test_japanese_has_no_word_timings_yet(client):
    """Kokoro reads Japanese, which writes no spaces to find its words by: no W frames."""
    chunks, pcm, _ = _timed(client, "今日はいい天気ですね。", voice="JA-FEMALE-1-NEUTRAL")
    assert pcm and chunks == []


def test_a_respoken_chunk_sends_the_words_of_the_take_it_keeps(monkeypatch):
    """With verify a chunk may be spoken twice: the words are those of the take kept (the retake
    here, its check the better one), not of the first."""
    import threading
    from types import SimpleNamespace

    from engine import verify
    from engine.app import EngineService, Synthesis

    takes = iter(
        [
            timing.Spoken(np.zeros(2400, np.float32), [timing.Word("Hello", 0.0, 0.05, 0, 5)]),
            timing.Spoken(np.zeros(4800, np.float32), [timing.Word("Hello", 0.1, 0.2, 0, 5)]),
        ]
    )
    backend = SimpleNamespace(synthesize_chunk_timed=lambda *args: next(takes))
    errors = iter([0.9, 0.0])  # the first take fails, the retake passes
    monkeypatch.setattr(verify, "check", lambda *a, **k: verify.Check(True, next(errors)))
    synthesis = Synthesis("Hello.", backend, SimpleNamespace(), None, None, 0, None, verify=True)
    take, words = EngineService._take(synthesis, SimpleNamespace(text="Hello."), threading.Event())
    assert take.respoken and take.audio.size == 4800
    assert words == [timing.Word("Hello", 0.1, 0.2, 0, 5)]
