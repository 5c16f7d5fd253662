"""Text normalisation (core/normalize.py, issue 17): each written form said as a person says it, in
a Said of its own that keeps the input span of what it replaced; plain prose untouched."""

from __future__ import annotations

import pytest

from core.markup import Pause, Said, markup_parse
from core.normalize import SAY_AS, say_as, script_normalize


def _normalized(text: str) -> list[tuple[str, str]]:
    """(the input's characters, what is said for them), piece by piece."""
    pieces = script_normalize(markup_parse(text), language="en")
    assert all(isinstance(p, Said) for p in pieces)
    # The pieces tile the input: every character once, in order.
    assert [(p.start, p.end) for p in pieces] == list(
        zip([0, *[p.end for p in pieces[:-1]]], [p.end for p in pieces], strict=True)
    )
    assert pieces[-1].end == len(text)
    return [(text[p.start : p.end], p.text) for p in pieces if isinstance(p, Said)]


def _spoken(text: str) -> str:
    return "".join(p.text for p in script_normalize(markup_parse(text), language="en") if isinstance(p, Said))


def test_the_brief_sentence_splits_where_each_form_stands():
    text = "I paid $5.50 on 12/01/2026."
    pieces = script_normalize(markup_parse(text), language="en")
    assert pieces == [
        Said("I paid ", 0, 7),
        Said("five dollars fifty", 7, 12),
        Said(" on ", 12, 16),
        Said("December first, twenty twenty-six", 16, 26),
        Said(".", 26, 27),
    ]
    assert text[7:12] == "$5.50" and text[16:26] == "12/01/2026"


@pytest.mark.parametrize(
    "text",
    [
        "Plain prose, with words only.",
        "The quick brown fox jumps over the lazy dog near the river bank.",
        'She said: "don\'t" — and left (quietly)!',
        "mp3 and 3D and x86 and v1.2.3 and COVID-19 and 1,2,3",  # glued to letters or lists: espeak's
        "In the morning, at home, in May.",
        "etc",
    ],
)
def test_text_that_is_already_words_is_the_same_piece(text):
    (piece,) = script_normalize([Said(text, 0, len(text))], language="en")
    assert piece == Said(text, 0, len(text))


@pytest.mark.parametrize(
    ("text", "forms"),
    [
        # cardinals, thousands separators, decimals, negatives, codes
        ("It has 42 keys.", [("42", "forty-two")]),
        ("About 1,200,000 people.", [("1,200,000", "one million two hundred thousand")]),
        ("Pi is 3.14 or so.", [("3.14", "three point one four")]),
        ("It fell to -5 today.", [("-5", "minus five")]),
        ("Agent 007 here.", [("007", "zero zero seven")]),
        ("I saw 101 dogs.", [("101", "one hundred and one")]),
        (
            "Id 1234567890123456 ok.",
            [("1234567890123456", "one two three four five six seven eight nine zero one two three four five six")],
        ),
        (
            "The 1234567890123456th.",
            [("1234567890123456th", "one two three four five six seven eight nine zero one two three four five six")],
        ),
        # ordinals
        (
            "The 1st and 22nd and 103rd.",
            [("1st", "first"), ("22nd", "twenty-second"), ("103rd", "one hundred and third")],
        ),
        # ranges and percentages
        ("Pages 5-10 now.", [("5-10", "five to ten")]),
        ("Up 50% today.", [("50%", "fifty percent")]),
        ("Down 5-10% now.", [("5-10%", "five to ten percent")]),
        ("Up 2.5 % now.", [("2.5 %", "two point five percent")]),
        # money
        ("It costs $5 now.", [("$5", "five dollars")]),
        ("It costs $1 now.", [("$1", "one dollar")]),
        ("It costs $5.50 now.", [("$5.50", "five dollars fifty")]),
        ("It costs $0.50 now.", [("$0.50", "fifty cents")]),
        ("It costs $0.01 now.", [("$0.01", "one cent")]),
        ("It costs £3 now.", [("£3", "three pounds")]),
        ("It costs £3.50 now.", [("£3.50", "three pounds fifty")]),
        ("It costs €1,200 now.", [("€1,200", "one thousand two hundred euros")]),
        ("It raised $2.5M today.", [("$2.5M", "two point five million dollars")]),
        ("It raised $3 million today.", [("$3 million", "three million dollars")]),
        ("It raised $40k today.", [("$40k", "forty thousand dollars")]),
        ("It costs $5-10 now.", [("$5-10", "five to ten dollars")]),
        ("It costs $5-$10 now.", [("$5-$10", "five to ten dollars")]),
        ("It costs 20 USD now.", [("20 USD", "twenty dollars")]),
        ("It lost -$5 today.", [("-$5", "minus five dollars")]),
        # years and decades
        ("Born in 1999 here.", [("1999", "nineteen ninety-nine")]),
        ("Since 2026 it runs.", [("2026", "twenty twenty-six")]),
        ("By 2005 it ran.", [("2005", "two thousand and five")]),
        ("From 1999-2005 it ran.", [("1999-2005", "nineteen ninety-nine to two thousand and five")]),
        ("Music of the 1990s and the '80s.", [("1990s", "nineteen nineties"), ("'80s", "eighties")]),
        ("It was December 2026.", [("2026", "twenty twenty-six")]),
        ("He counted 1999 sheep.", [("1999", "one thousand nine hundred and ninety-nine")]),  # no year's context
        # dates
        ("Due 2026-12-01 then.", [("2026-12-01", "December first, twenty twenty-six")]),
        ("Due 12/01/2026 then.", [("12/01/2026", "December first, twenty twenty-six")]),
        ("Due 25/12/2026 then.", [("25/12/2026", "December twenty-fifth, twenty twenty-six")]),  # no 25th month
        ("Due 7/4/05 then.", [("7/4/05", "July fourth, oh five")]),
        ("Due Dec 1, 2026 then.", [("Dec 1, 2026", "December first, twenty twenty-six")]),
        ("Due Sept. 3rd then.", [("Sept. 3rd", "September third")]),
        ("Due 1 December 2026 then.", [("1 December 2026", "the first of December, twenty twenty-six")]),
        # times
        ("Meet at 3:30 pm today.", [("3:30 pm", "three thirty P M")]),
        ("Meet at 9:05 AM today.", [("9:05 AM", "nine oh five eh M")]),
        ("Meet at 15:45 today.", [("15:45", "fifteen forty-five")]),
        ("Meet at 3:00 today.", [("3:00", "three o'clock")]),
        ("Meet at 18:00 today.", [("18:00", "eighteen hundred")]),
        ("Meet at 00:00 today.", [("00:00", "zero hundred")]),
        ("Meet at 3pm today.", [("3pm", "three P M")]),
        ("Meet at 3 p.m. today.", [("3 p.m.", "three P M")]),
        # units
        ("It ran 5 km today.", [("5 km", "five kilometers")]),
        ("It ran 1 km today.", [("1 km", "one kilometer")]),
        ("It weighs 10kg now.", [("10kg", "ten kilograms")]),
        ("It holds 3 GB now.", [("3 GB", "three gigabytes")]),
        ("It is 72°F now.", [("72°F", "seventy-two degrees Fahrenheit")]),
        ("It is -5°C now.", [("-5°C", "minus five degrees Celsius")]),
        ("It goes 100 km/h now.", [("100 km/h", "one hundred kilometers per hour")]),
        ("It took 250 ms now.", [("250 ms", "two hundred and fifty milliseconds")]),
        ("It is 5-10 km away.", [("5-10 km", "five to ten kilometers")]),
        ("It is 1.5 m tall.", [("1.5 m", "one point five meters")]),
        # URLs and e-mail addresses
        ("See https://outeai.com/docs today.", [("https://outeai.com/docs", "outeai dot com slash docs")]),
        ("See www.example.org/a_b now.", [("www.example.org/a_b", "w w w dot example dot org slash a underscore b")]),
        ("See outeai.com.", [("outeai.com", "outeai dot com")]),
        ("See http://example.com/v2/ now.", [("http://example.com/v2/", "example dot com slash v two")]),
        ("Mail name@example.com now.", [("name@example.com", "name at example dot com")]),
        (
            "Mail jo.smith+tts@mail.example.co.uk now.",
            [
                ("jo.smith+tts@mail.example.co.uk", "jo dot smith plus tts at mail dot example dot co dot uk"),
            ],
        ),
        # telephone numbers
        (
            "Call +1 (555) 010-2030 now.",
            [("+1 (555) 010-2030", "plus one, five five five, zero one zero, two zero three zero")],
        ),
        ("Call 555-010-2030 now.", [("555-010-2030", "five five five, zero one zero, two zero three zero")]),
        # abbreviations
        ("Dr. Smith and Mr. Jones.", [("Dr.", "Doctor"), ("Mr.", "Mister")]),
        ("Fruit, e.g. apples, i.e. food.", [("e.g.", "for example"), ("i.e.", "that is")]),
        ("Try No. 5 now.", [("No.", "number"), ("5", "five")]),
    ],
)
def test_each_written_form_is_said_as_a_person_says_it(text, forms):
    pieces = _normalized(text)
    assert [(written, said) for written, said in pieces if written != said] == forms


def test_a_sentence_ending_in_an_abbreviation_keeps_its_full_stop():
    """The full stop ends the sentence too (the voice stops there; chunks split there)."""
    assert _normalized("Apples, pears, etc. Then more.") == [
        ("Apples, pears, ", "Apples, pears, "),
        ("etc", "et cetera"),
        (". Then more.", ". Then more."),
    ]
    assert _normalized("Come at 3 p.m.")[-2:] == [("3 p.m", "three P M"), (".", ".")]
    assert _spoken("Fruit, etc. and more.") == "Fruit, et cetera and more."


def test_a_title_keeps_no_full_stop_before_the_name():
    assert _spoken("Dr. Smith is in.") == "Doctor Smith is in."
    assert _spoken("She lives on Oak Dr. now.") == "She lives on Oak Dr. now.", "Dr. not before a name"


def test_a_13th_month_is_not_a_date():
    assert _spoken("Due 13/13/2026 then.") == "Due 13/13/2026 then."
    assert _spoken("Due 2026-13-01 then.") == "Due 2026-13-01 then."


def test_pieces_keep_their_rate_and_their_place_in_the_input():
    """A piece from markup (here at 7..19 of a longer input, slowed down) keeps both."""
    (pause, *pieces) = script_normalize([Pause(0.5, 0), Said("Pay $5 now", 7, 17, rate=0.8)], language="en")
    assert pause == Pause(0.5, 0)
    assert pieces == [
        Said("Pay ", 7, 11, rate=0.8),
        Said("five dollars", 11, 13, rate=0.8),
        Said(" now", 13, 17, rate=0.8),
    ]


def test_an_alias_is_normalised_whole_on_its_own_span():
    """A pronunciation alias ("v2" said "version 2") is not the input's characters: one piece,
    the alias's span."""
    assert script_normalize([Said("version 2", 3, 5)], language="en") == [Said("version two", 3, 5)]


def test_ipa_pieces_and_other_languages_are_untouched():
    ipa = Said("$5", 0, 2, ipa="faɪv")  # noqa: RUF001 (IPA)
    assert script_normalize([ipa], language="en") == [ipa]
    script = [Said("今日は5時です $5", 0, 10)]
    assert script_normalize(script, language="ja") == script


def test_american_english_is_english():
    assert script_normalize([Said("$5", 0, 2)], language="en-US") == [Said("five dollars", 0, 2)]


# --- <say-as> ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "interpret_as", "date_format", "said"),
    [
        ("ABC", "characters", None, "eh B C"),  # "eh": espeak says a lone "A" as the article
        ("xyz", "characters", None, "X Y Z"),
        ("R2-D2", "characters", None, "R two dash D two"),
        ("1234", "characters", None, "one two three four"),
        ("1234", "cardinal", None, "one thousand two hundred and thirty-four"),
        ("1,234", "cardinal", None, "one thousand two hundred and thirty-four"),
        (" -7 ", "cardinal", None, "minus seven"),
        ("2.5", "cardinal", None, "two point five"),
        ("12/01/2026", "date", "mdy", "December first, twenty twenty-six"),
        ("01/12/2026", "date", "dmy", "December first, twenty twenty-six"),
        ("2026-12-01", "date", "ymd", "December first, twenty twenty-six"),
        ("2026-12-01", "date", None, "December first, twenty twenty-six"),
        ("12/01", "date", "md", "December first"),
        ("01.12", "date", "dm", "December first"),
        ("2026", "date", "y", "twenty twenty-six"),
        ("12/2026", "date", "my", "December twenty twenty-six"),
        ("Dec 1, 2026", "date", None, "December first, twenty twenty-six"),  # named: read as text
        ("+1 (555) 010-2030", "telephone", None, "plus one, five five five, zero one zero, two zero three zero"),
        ("555 0102", "telephone", None, "five five five, zero one zero two"),
    ],
)
def test_say_as_says_what_it_is_asked(text, interpret_as, date_format, said):
    assert say_as(text, interpret_as=interpret_as, date_format=date_format, language="en") == said


def test_say_as_of_what_the_text_is_not_reads_it_as_text():
    assert say_as("13/13/2026", interpret_as="date", date_format="mdy") == "13/13/2026"
    assert say_as("lots of $5", interpret_as="cardinal") == "lots of five dollars"
    assert say_as("no digits", interpret_as="telephone") == "no digits"


def test_say_as_refuses_what_it_does_not_know():
    with pytest.raises(ValueError, match="interpret-as must be one of characters, cardinal, date, telephone"):
        say_as("5", interpret_as="ordinal")
    with pytest.raises(ValueError, match="format must be one of"):
        say_as("12/01/2026", interpret_as="date", date_format="qq")
    assert SAY_AS == ("characters", "cardinal", "date", "telephone")


def test_say_as_in_japanese_uses_its_number_words():
    assert say_as("42", interpret_as="cardinal", language="ja") == "四十二"
    assert say_as("2026-12-01", interpret_as="date", language="ja") == "2026-12-01"


# --- hostile input ----------------------------------------------------------------------------


@pytest.mark.parametrize("run", ["a-", "1.", "a.", "1-", "$1 ", "a@", "Dec 1 ", "99999999999999999999st "])
def test_a_long_run_of_almost_forms_costs_in_proportion_to_its_length(run):
    """Up to twice the longest text a take may have: no pattern backtracks over the whole run.
    Four times the text costs about four times the CPU (a backtracking pattern: sixteen); CPU time
    of this process, the best of three, so other work on the machine does not count."""
    import time

    def cost(length: int) -> float:
        text = run * (length // len(run))
        best = float("inf")
        for _ in range(3):
            started = time.process_time()
            _normalized(text)
            best = min(best, time.process_time() - started)
        return best

    short, long = cost(2_500), cost(10_000)
    assert long < 8 * max(short, 0.002), (short, long)


def test_any_mix_of_digits_signs_and_letters_is_read_without_error():
    import random

    alphabet = "0123456789$£€.,-:/ @%°CFkmgKMBa pAPM'sthndr\n"
    chance = random.Random(17)
    for _ in range(3000):
        text = "".join(chance.choice(alphabet) for _ in range(chance.randint(1, 30)))
        _normalized(text)  # the pieces tile the input, whatever it is
