"""Written forms said the way a person says them: numbers, money, dates, times, units, URLs and
e-mail addresses, in the pieces of a script (core/markup.py)."""

from __future__ import annotations

from core.markup import Script


def script_normalize(script: Script, *, language: str) -> Script:
    """``script`` with its written forms spelled as spoken. (Until normalisation lands: as it is.)"""
    return script


SAY_AS = ("characters", "cardinal", "date", "telephone")  # <say-as interpret-as="...">


def say_as(text: str, *, interpret_as: str, date_format: str | None = None, language: str = "en") -> str:
    """``text`` as <say-as interpret-as=...> asks it said (one of ``SAY_AS``; ``date_format`` is
    the element's ``format``, e.g. "mdy"). (Until normalisation lands: as it is.)"""
    return text
