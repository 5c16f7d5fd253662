"""What a text asks to be said: the script a generation's input becomes before it is spoken.

Plain text and the SSML subset of issue 17 (docs/timing.md, "Markup") both become a ``Script``:
pieces to say, each pointing back at the characters of the input it came from, and pauses. Three
steps make it, each its own module, in this order (studio.services.generation_create):

1. ``markup_parse`` (here): the input, read as SSML when it is markup, else as one piece of text;
   ``MarkupError`` names the position of bad markup.
2. ``core.pronunciation.script_pronounce``: the account's pronunciation rules (alias or IPA).
3. ``core.normalize.script_normalize``: numbers, money, dates, times, units, URLs and e-mail
   addresses said the way a person says them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Said:
    """A piece of speech. ``start``/``end`` are the characters of the input it stands for (what a
    word timing and a caption point at), even where what is said differs (an alias, "$5" said as
    "five dollars", an IPA pronunciation)."""

    text: str  # what the voice says (with ``ipa``: the written word, for timings and captions)
    start: int
    end: int
    rate: float = 1.0  # <prosody rate>: times the request's own speed
    ipa: str | None = None  # <phoneme alphabet="ipa" ph="...">: the sounds to say instead of the text


@dataclass(frozen=True)
class Pause:
    """<break time="..."/>: silence of ``seconds`` (at most 5), billed as audio."""

    seconds: float
    at: int  # the input's character where it stands


Script = list[Said | Pause]


class MarkupError(ValueError):
    """Markup that cannot be read: the message says what, ``position`` (line and column, from 1)
    says where."""

    def __init__(self, message: str, *, line: int, column: int) -> None:
        super().__init__(f"line {line}, column {column}: {message}")
        self.line = line
        self.column = column


def markup_parse(text: str) -> Script:
    """The script of ``text``. (Until the SSML subset lands: plain text only, one piece.)"""
    return [Said(text, 0, len(text))]
