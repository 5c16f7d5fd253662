"""An account's pronunciation rules applied to a script (core/markup.py): a word or phrase said
as an alias, or with given IPA sounds."""

from __future__ import annotations

from dataclasses import dataclass

from core.markup import Script


@dataclass(frozen=True)
class PronunciationRule:
    match: str  # the word or phrase as written
    alias: str | None = None  # say this instead ...
    ipa: str | None = None  # ... or these sounds (exactly one of the two)
    case_sensitive: bool = False
    whole_word: bool = True


def script_pronounce(script: Script, rules: list[PronunciationRule]) -> Script:
    """``script`` with every match of a rule said its way. (Until the dictionary lands: as it is.)"""
    return script
