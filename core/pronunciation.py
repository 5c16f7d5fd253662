"""An account's pronunciation rules applied to a script (core/markup.py): a word or phrase said
as an alias, or with given IPA sounds."""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.markup import Said, Script

MATCH_MAX_CHARS = 100  # a word or a phrase, not a paragraph
SAYS_MAX_CHARS = 200  # an alias or an IPA string


@dataclass(frozen=True)
class PronunciationRule:
    match: str  # the word or phrase as written
    alias: str | None = None  # say this instead ...
    ipa: str | None = None  # ... or these sounds (exactly one of the two)
    case_sensitive: bool = False
    whole_word: bool = True


def _rule_pattern(rule: PronunciationRule) -> str:
    pattern = re.escape(rule.match)
    if not rule.case_sensitive:
        pattern = f"(?i:{pattern})"
    if rule.whole_word:
        # Not inside a longer word: no letter or digit right before or after.
        pattern = rf"(?<!\w){pattern}(?!\w)"
    return f"({pattern})"


def script_pronounce(script: Script, rules: list[PronunciationRule]) -> Script:
    """``script`` with every match of a rule said its way: a piece of speech is split at each
    match, which becomes a piece of its own that keeps the match's span of the input (an alias is
    said instead of it; with IPA, the written word keeps its text and gets the sounds).

    The longest match wins where rules overlap (a phrase before a word of it), then the first
    rule given (the caller puts the account's own before its teams'). Pieces that already carry
    sounds (<phoneme>) are left as they are."""
    usable = [rule for rule in rules if rule.match and (rule.alias or rule.ipa)]
    if not usable:
        return script
    ordered = sorted(usable, key=lambda rule: len(rule.match), reverse=True)  # stable: first given wins ties
    matcher = re.compile("|".join(_rule_pattern(rule) for rule in ordered))
    pronounced: Script = []
    for piece in script:
        if isinstance(piece, Said) and piece.ipa is None:
            pronounced.extend(_said_pronounce(piece, matcher, ordered))
        else:
            pronounced.append(piece)
    return pronounced


def _said_pronounce(piece: Said, matcher: re.Pattern[str], ordered: list[PronunciationRule]) -> list[Said]:
    # A piece said as written maps its characters one to one onto the input; one said otherwise
    # (<sub alias>) has only its whole span, which each of its parts then stands for.
    exact = len(piece.text) == piece.end - piece.start

    def span(start: int, end: int) -> tuple[int, int]:
        return (piece.start + start, piece.start + end) if exact else (piece.start, piece.end)

    parts: list[Said] = []
    done = 0
    for found in matcher.finditer(piece.text):
        rule = ordered[(found.lastindex or 1) - 1]
        if found.start() > done:
            parts.append(Said(piece.text[done : found.start()], *span(done, found.start()), rate=piece.rate))
        start, end = span(found.start(), found.end())
        if rule.alias:
            parts.append(Said(rule.alias, start, end, rate=piece.rate))
        else:
            parts.append(Said(found.group(), start, end, rate=piece.rate, ipa=rule.ipa))
        done = found.end()
    if not parts:
        return [piece]
    if done < len(piece.text):
        parts.append(Said(piece.text[done:], *span(done, len(piece.text)), rate=piece.rate))
    return parts
