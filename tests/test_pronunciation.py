"""core.pronunciation: a script's words said as the account's rules say (pure, no database)."""

import pytest

from core.ipa import ipa_clean, ipa_problem
from core.markup import Pause, Said, markup_parse
from core.pronunciation import PronunciationRule, script_pronounce


def said(text: str, rules: list[PronunciationRule]) -> list[tuple[str, str, str | None]]:
    """What is said, the input it stands for, and the sounds, piece by piece."""
    return [
        (piece.text, text[piece.start : piece.end], piece.ipa)
        for piece in script_pronounce(markup_parse(text), rules)
        if isinstance(piece, Said)
    ]


def test_an_alias_is_said_in_place_of_the_word_and_keeps_its_span():
    rules = [PronunciationRule("Zorblax", alias="door bell")]
    pieces = script_pronounce([Said("Meet Zorblax today.", 0, 19)], rules)
    assert pieces == [Said("Meet ", 0, 5), Said("door bell", 5, 12), Said(" today.", 12, 19)]


def test_ipa_keeps_the_written_word_and_carries_the_sounds():
    rules = [PronunciationRule("Nguyen", ipa="ŋwiən")]
    assert said("Ms Nguyen is here", rules) == [
        ("Ms ", "Ms ", None),
        ("Nguyen", "Nguyen", "ŋwiən"),
        (" is here", " is here", None),
    ]


def test_case_is_ignored_unless_the_rule_asks_for_it():
    loose = [PronunciationRule("sql", alias="sequel")]
    assert [text for text, _, _ in said("SQL and sql", loose)] == ["sequel", " and ", "sequel"]
    strict = [PronunciationRule("SQL", alias="sequel", case_sensitive=True)]
    assert [text for text, _, _ in said("SQL and sql", strict)] == ["sequel", " and sql"]


def test_a_whole_word_rule_leaves_longer_words_alone_and_a_part_word_rule_does_not():
    whole = [PronunciationRule("cat", alias="kitty")]
    assert [text for text, _, _ in said("cat catalogue bobcat cat.", whole)] == [
        "kitty",
        " catalogue bobcat ",
        "kitty",
        ".",
    ]
    part = [PronunciationRule("cat", alias="kitty", whole_word=False)]
    assert [source for _, source, _ in said("bobcats", part)] == ["bob", "cat", "s"]


def test_the_longest_match_wins_so_a_phrase_beats_a_word_of_it():
    rules = [PronunciationRule("New", alias="gnu"), PronunciationRule("New York", alias="the big apple")]
    assert said("New York is new", rules) == [
        ("the big apple", "New York", None),
        (" is ", " is ", None),
        ("gnu", "new", None),
    ]


def test_the_first_rule_given_wins_between_rules_of_the_same_match():
    # voices.selectors.pronunciation_rules_for_user puts the account's own rules first.
    rules = [PronunciationRule("Ada", alias="own"), PronunciationRule("ada", alias="team's")]
    assert [text for text, _, _ in said("Ada", rules)] == ["own"]


def test_pauses_and_pieces_with_sounds_of_their_own_are_kept_and_rates_carried():
    rules = [PronunciationRule("Zorblax", alias="door bell")]
    script = [
        Said("Zorblax", 0, 7, rate=0.8),
        Pause(0.5, at=7),
        Said("Zorblax", 8, 15, ipa="zɔɹblæks"),  # <phoneme>: the author said how
    ]
    assert script_pronounce(script, rules) == [
        Said("door bell", 0, 7, rate=0.8),
        Pause(0.5, at=7),
        Said("Zorblax", 8, 15, ipa="zɔɹblæks"),
    ]


def test_a_piece_said_otherwise_than_written_gives_its_whole_span_to_each_part():
    # <sub alias="Dr Zorblax">DZ</sub>: its text is not the input's, so offsets cannot be mapped.
    pieces = script_pronounce([Said("Dr Zorblax", 10, 12)], [PronunciationRule("Zorblax", alias="door bell")])
    assert pieces == [Said("Dr ", 10, 12), Said("door bell", 10, 12)]


def test_regex_characters_in_a_match_are_plain_text():
    rules = [PronunciationRule("C++", alias="see plus plus"), PronunciationRule("a.b", alias="x")]
    assert [text for text, _, _ in said("I write C++ and aXb", rules)] == ["I write ", "see plus plus", " and aXb"]


def test_no_rules_and_empty_rules_change_nothing():
    script = markup_parse("Hello there")
    assert script_pronounce(script, []) == script
    assert script_pronounce(script, [PronunciationRule("", alias="x"), PronunciationRule("Hello")]) == script


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [("/ˈzɔɹblæks/", "ˈzɔɹblæks"), ("[gʊd]", "ɡʊd"), ("ʧɜːʧ", "tʃɜːtʃ"), ("a:  b", "aː b")],
)
def test_ipa_is_cleaned_of_what_people_type(typed, cleaned):
    assert ipa_clean(typed) == cleaned
    assert ipa_problem(cleaned) is None


@pytest.mark.parametrize(
    ("ipa", "says"),
    [("", "empty"), ("zorb1ax", "“1”"), ("hello!", "“!”"), ("ZORB", "“B”"), ("é" * 3, "“é”"), ("a" * 201, "200")],
)
def test_what_is_not_ipa_is_named(ipa, says):
    assert says in (ipa_problem(ipa_clean(ipa)) or "")
