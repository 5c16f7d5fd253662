"""The SSML subset (issue 17, core/markup.py): what each element makes, where bad markup is,
plain text as it was; and what the rest of the web side makes of a script (the hold, captions),
and the engine's reading of one (engine/text.py runs, engine/timing.py offsets)."""

from __future__ import annotations

import pytest

from billing.pricing import script_seconds_max, speech_seconds_max
from core.markup import MarkupError, Pause, Said, markup_parse, script_to_json
from engine import timing
from engine.protocol import Word
from engine.text import Pause as EnginePause
from engine.text import Say, script_runs
from studio.captions import captions_render


def _said(text: str) -> list[tuple[str, str]]:
    """Each piece's said text and the input's characters it points at."""
    return [(p.text, text[p.start : p.end]) for p in markup_parse(text) if isinstance(p, Said)]


@pytest.mark.parametrize("text", ["Hello there.", "1 < 2 and 3 > 2", "  <b>bold</b> is not markup", "Tom &amp; Jerry"])
def test_plain_text_is_one_piece_as_it_is(text):
    assert markup_parse(text) == [Said(text, 0, len(text))]


def test_break_is_a_pause_where_it_stands_and_pieces_point_at_the_words():
    text = '<speak>Hello there. <break time="1s"/> General Kenobi.</speak>'
    script = markup_parse(text)
    assert script == [Said("Hello there.", 7, 19), Pause(1.0, 20), Said("General Kenobi.", 39, 54)]
    assert text[20:].startswith("<break")


@pytest.mark.parametrize(("time_value", "seconds"), [("500ms", 0.5), ("1.5s", 1.5), ("5s", 5.0), ("5000ms", 5.0)])
def test_break_times(time_value, seconds):
    assert markup_parse(f'<speak>a<break time="{time_value}"/>b</speak>')[1] == Pause(seconds, 8)


def test_prosody_rates_multiply_when_nested_and_are_held_to_the_speed_range():
    text = (
        '<speak><prosody rate="slow">slow <prosody rate="50%">slower</prosody></prosody> '
        '<prosody rate="fast">fast</prosody> <prosody rate="10%"><prosody rate="10%">tiny</prosody></prosody></speak>'
    )
    rates = [(p.text, p.rate) for p in markup_parse(text) if isinstance(p, Said)]
    assert rates == [("slow", 0.75), ("slower", 0.375), ("fast", 1.25), ("tiny", 0.25)]


def test_sub_says_the_alias_for_the_written_characters():
    assert _said('<speak>The <sub alias="World Wide Web">WWW</sub> is big.</speak>') == [
        ("The", "The"),
        ("World Wide Web", "WWW"),
        ("is big.", "is big."),
    ]


def test_phoneme_gives_its_sounds_for_the_written_word():
    text = '<speak>Say <phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme>.</speak>'  # noqa: RUF001  # IPA
    piece = markup_parse(text)[1]
    assert isinstance(piece, Said) and piece.ipa == "təˈmɑːtoʊ" and text[piece.start : piece.end] == "tomato"  # noqa: RUF001  # IPA


def test_say_as_is_accepted_and_its_text_said():
    assert _said('<speak>Call <say-as interpret-as="telephone">555 0100</say-as> now.</speak>')[1][1] == "555 0100"


def test_entities_and_non_ascii_text_keep_their_positions():
    text = "<speak>Café &amp; crème, <break time='200ms'/>déjà vu.</speak>"
    assert _said(text) == [("Café & crème,", "Café &amp; crème,"), ("déjà vu.", "déjà vu.")]


@pytest.mark.parametrize(
    ("text", "line", "column", "says"),
    [
        ("<speak>Hello", 1, 13, "no element found"),
        ("<speak>a</spek>", 1, 11, "mismatched tag"),
        ('<speak>\n  Hé <break time="9s"/></speak>', 2, 6, "at most 5 s"),
        ('<speak><break time="0ms"/></speak>', 1, 8, "more than 0"),
        ('<speak><break time="soon"/></speak>', 1, 8, "500ms"),
        ("<speak>\n\n<emphasis>x</emphasis></speak>", 3, 1, "unknown element <emphasis>"),
        ('<speak><prosody pitch="high">x</prosody></speak>', 1, 8, "no attribute 'pitch'"),
        ('<speak><prosody rate="warp">x</prosody></speak>', 1, 8, "percentage"),
        ("<speak><sub>x</sub></speak>", 1, 8, 'needs a alias="..."'),
        ('<speak><phoneme alphabet="x-sampa" ph="t@">x</phoneme></speak>', 1, 8, '"ipa"'),
        ("<speak><phoneme>x</phoneme></speak>", 1, 8, 'needs a ph="..."'),
        ('<speak>Hi <phoneme ph="t{3}">x</phoneme></speak>', 1, 11, "Not IPA sounds the voices know"),
        ('<speak><say-as interpret-as="ordinal">1</say-as></speak>', 1, 8, "not one of characters"),
        ("<speak>a &nbsp; b</speak>", 1, 10, "undefined entity"),
        ("<speak>a</speak> b", 1, 18, "junk after document element"),
    ],
)
def test_bad_markup_names_its_line_and_column(text, line, column, says):
    with pytest.raises(MarkupError) as refused:
        markup_parse(text)
    assert (refused.value.line, refused.value.column) == (line, column)
    assert says in refused.value.reason


def test_an_entity_bomb_is_refused_at_once():
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = f'<speak><!DOCTYPE speak [<!ENTITY l0 "lol">{lol}]>&l9;</speak>'
    with pytest.raises(MarkupError) as refused:
        markup_parse(bomb)
    # Refused where the DOCTYPE stands, before any entity is declared, let alone expanded.
    assert (refused.value.line, refused.value.column) == (1, 10)
    # Before <speak> a DOCTYPE is no markup at all: plain text, said as it is, never expanded.
    assert markup_parse(bomb[7:-8] + "<speak/>")[0].text.startswith("<!DOCTYPE")


def test_the_hold_counts_said_text_and_pauses_not_tags():
    plain = "Hello there. General Kenobi."
    marked = '<speak>Hello there. <break time="2s"/> General Kenobi.</speak>'
    assert script_seconds_max(markup_parse(plain), speed=1.0) == speech_seconds_max(plain)
    assert script_seconds_max(markup_parse(marked), speed=1.0) == pytest.approx(
        speech_seconds_max(plain) + 2.0, abs=0.2
    )
    slow = script_seconds_max(markup_parse('<speak><prosody rate="50%">Hello there.</prosody></speak>'), speed=1.0)
    assert slow > script_seconds_max(markup_parse("<speak>Hello there.</speak>"), speed=1.0) + 1.0


def test_engine_runs_split_at_pauses_rates_and_phonemes():
    text = '<speak>a b <break time="1s"/> c <prosody rate="slow">d</prosody> <phoneme ph="i">e</phoneme> f</speak>'
    pieces = [
        EnginePause(p["pause"], p["at"]) if "pause" in p else Say(p["say"], p["start"], p["end"], p["rate"], p["ipa"])
        for p in script_to_json(markup_parse(text))
    ]
    runs = script_runs(pieces, text)
    assert [(r.text, r.rate, r.ipa, r.pause_after) for r in runs] == [
        ("a b", 1.0, None, 1.0),
        ("c", 1.0, None, 0.0),
        ("d", 0.75, None, 0.0),
        ("e", 1.0, "i", 0.0),
        ("f", 1.0, None, 0.0),
    ]


def test_engine_word_offsets_point_at_the_input_alias_words_at_the_whole_element():
    text = '<speak>See the <sub alias="World Wide Web">WWW</sub> now.</speak>'
    pieces = [Say(p.text, p.start, p.end, p.rate) for p in markup_parse(text) if isinstance(p, Said)]
    (run,) = script_runs(pieces, text)
    words = [Word(w, 0.0, 0.1, 0, 0) for w in ["See", "the", "World", "Wide", "Web", "now"]]
    placed = timing.RunLocator().place(run, words)
    assert [text[w.char_start : w.char_end] for w in placed] == ["See", "the", "WWW", "WWW", "WWW", "now"]


def test_captions_of_markup_show_the_words_not_the_tags():
    text = '<speak>Hello <prosody rate="slow">there</prosody>, <sub alias="and">&amp;</sub> bye.</speak>'
    spans = [(p.start, p.end) for p in markup_parse(text) if isinstance(p, Said)]
    words = [
        {"text": "w", "start": k * 0.3, "end": k * 0.3 + 0.2, "char_start": a, "char_end": b, "chunk": 1}
        for k, (a, b) in enumerate(spans)
    ]
    srt = captions_render(text=text, words=words, format_name="srt")
    assert "Hello there, & bye." in srt and "<" not in srt
