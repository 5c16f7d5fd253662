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

import re
from dataclasses import dataclass
from typing import NoReturn
from xml.parsers import expat

from core.ipa import ipa_clean, ipa_problem
from engine.protocol import MAX_SPEED, MIN_SPEED


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
        self.reason = message
        self.line = line
        self.column = column


# <prosody rate>'s words, as times the request's speed (a percentage says it in numbers: "80%").
PROSODY_RATES = {"x-slow": 0.5, "slow": 0.75, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.5}
BREAK_SECONDS_MAX = 5.0
# Each element's attributes: required ones first, then the optional ones.
_ELEMENTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "speak": ((), ("version", "xmlns", "xml:lang")),
    "break": ((), ("time", "strength")),
    "prosody": (("rate",), ()),
    "sub": (("alias",), ()),
    "phoneme": (("ph",), ("alphabet",)),
    "say-as": (("interpret-as",), ("format",)),
}
_BREAK_STRENGTHS = {"none": 0.0, "x-weak": 0.1, "weak": 0.25, "medium": 0.4, "strong": 0.75, "x-strong": 1.2}
_TIME = re.compile(r"(\d+(?:\.\d+)?|\.\d+)(ms|s)")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")


def is_markup(text: str) -> bool:
    """Whether ``text`` is SSML: it starts (after whitespace) with ``<speak``."""
    return text.lstrip().startswith("<speak")


def script_to_json(script: Script) -> list[dict]:
    """The script as Generation.script and the engine's ``/synthesize`` take it:
    {"say", "start", "end", "rate", "ipa"} or {"pause", "at"}."""
    return [
        {"pause": piece.seconds, "at": piece.at}
        if isinstance(piece, Pause)
        else {"say": piece.text, "start": piece.start, "end": piece.end, "rate": piece.rate, "ipa": piece.ipa}
        for piece in script
    ]


def script_said(script: Script) -> str:
    """What the script says, its pieces joined (for the language, a title)."""
    return " ".join(piece.text for piece in script if isinstance(piece, Said))


def markup_parse(text: str) -> Script:
    """The script of ``text``: SSML (``is_markup``) read with expat, DTDs and entity declarations
    refused (no entity bomb, no external entity); anything else is one piece of plain text."""
    if not is_markup(text):
        return [Said(text, 0, len(text))]
    return _SsmlReader(text).read()


@dataclass
class _Open:
    name: str
    rate: float  # the rate inside the element (nested prosody multiplies)
    replaced: bool = False  # <sub>, <phoneme>, <say-as>: its text is said another way, as one piece
    attrs: dict[str, str] | None = None
    start: int = -1  # its text's first character in the input, once it has text
    end: int = -1
    chars: list[str] | None = None


class _SsmlReader:
    """expat's events into a script. Text runs are placed by byte index: the input is parsed as
    UTF-8 and expat's ``CurrentByteIndex`` (the start of each event in those bytes) maps back to
    characters, so a piece's ``start``/``end`` are the input's own."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.data = text.encode("utf-8")
        # byte index -> character index (a character's bytes all map to it; the end maps to len)
        self.chars = [0] * (len(self.data) + 1)
        at = 0
        for i, ch in enumerate(text):
            n = len(ch.encode("utf-8"))
            self.chars[at : at + n] = [i] * n
            at += n
        self.chars[at] = len(text)
        self.script: Script = []
        self.stack: list[_Open] = []
        self.run: list[str] = []  # the text since the last tag
        self.run_start = -1  # its first byte
        self.parser = expat.ParserCreate()
        self.parser.buffer_text = False
        self.parser.StartElementHandler = self.start
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.chardata
        self.parser.StartDoctypeDeclHandler = self.refuse_dtd
        self.parser.EntityDeclHandler = self.refuse_entity
        self.parser.ExternalEntityRefHandler = self.refuse_external
        self.parser.ProcessingInstructionHandler = self.refuse_processing

    def read(self) -> Script:
        try:
            self.parser.Parse(self.data, True)
        except expat.ExpatError as error:
            message = expat.ErrorString(error.code) if error.code else str(error)
            line, column = self._position(self.parser.ErrorByteIndex)
            raise MarkupError(message, line=line, column=column) from None
        return self.script

    # --- positions -------------------------------------------------------------------------
    def _position(self, byte_index: int) -> tuple[int, int]:
        """(line, column), both from 1 and in characters, of a byte of the input."""
        at = self.chars[min(max(byte_index, 0), len(self.data))]
        line_start = self.text.rfind("\n", 0, at) + 1
        return self.text.count("\n", 0, at) + 1, at - line_start + 1

    def fail(self, message: str) -> NoReturn:
        line, column = self._position(self.parser.CurrentByteIndex)
        raise MarkupError(message, line=line, column=column)

    def _trimmed(self, start: int, end: int) -> tuple[int, int]:
        """The span without the spaces around its words (a piece points at the words)."""
        raw = self.text[start:end]
        return start + len(raw) - len(raw.lstrip()), end - len(raw) + len(raw.rstrip())

    def here(self) -> int:
        return self.chars[self.parser.CurrentByteIndex]

    # --- refusals ---------------------------------------------------------------------------
    def refuse_dtd(self, *args: object) -> None:
        self.fail("a DOCTYPE is not allowed in markup")

    def refuse_entity(self, *args: object) -> None:
        self.fail("entity declarations are not allowed in markup")

    def refuse_external(self, *args: object) -> int:
        self.fail("external entities are not allowed in markup")

    def refuse_processing(self, *args: object) -> None:
        self.fail("processing instructions are not allowed in markup")

    # --- events -----------------------------------------------------------------------------
    def chardata(self, data: str) -> None:
        if not self.stack:
            if data.strip():
                self.fail("text outside <speak>")
            return
        if not self.run:
            self.run_start = self.parser.CurrentByteIndex
        self.run.append(data)

    def flush(self) -> None:
        """The text run ended by the tag at hand: a piece of speech (or part of an element's)."""
        if not self.run:
            return
        said = "".join(self.run)
        start, end = self.chars[self.run_start], self.here()
        self.run = []
        inner = next((o for o in reversed(self.stack) if o.replaced), None)
        if inner is not None:  # inside <sub>/<phoneme>/<say-as>: its text is gathered, said at its end
            if inner.start < 0:
                inner.start = start
            inner.end = end
            assert inner.chars is not None
            inner.chars.append(said)
            return
        if not said.strip():
            return
        start, end = self._trimmed(start, end)
        self.script.append(Said(said.strip(), start, end, rate=self.stack[-1].rate))

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.flush()
        if not self.stack and name != "speak":
            self.fail(f"markup starts with <speak>, not <{name}>")
        if self.stack and name == "speak":
            self.fail("<speak> inside <speak>")
        if self.stack and next((o for o in self.stack if o.replaced), None) is not None:
            self.fail(f"<{name}> inside <{next(o.name for o in self.stack if o.replaced)}>: its text is said as one")
        if name not in _ELEMENTS:
            self.fail(f"unknown element <{name}>; the elements are {', '.join(f'<{e}>' for e in _ELEMENTS)}")
        required, optional = _ELEMENTS[name]
        for attr in attrs:
            if attr not in required and attr not in optional:
                allowed = ", ".join(required + optional) or "none"
                self.fail(f"<{name}> has no attribute {attr!r} (its attributes: {allowed})")
        for attr in required:
            if not attrs.get(attr, "").strip():
                self.fail(f'<{name}> needs a {attr}="..."')
        rate = self.stack[-1].rate if self.stack else 1.0
        if name == "break":
            self.script.append(Pause(self._break_seconds(attrs), self.here()))
        elif name == "prosody":
            rate = min(max(rate * self._rate(attrs["rate"]), MIN_SPEED), MAX_SPEED)
        elif name == "phoneme":
            self._phoneme_check(attrs)
        elif name == "say-as":
            self._say_as_check(attrs)
        replaced = name in ("sub", "phoneme", "say-as")
        self.stack.append(_Open(name, rate, replaced, dict(attrs), chars=[] if replaced else None))

    def end(self, name: str) -> None:
        self.flush()
        element = self.stack.pop()
        if element.name == "break":
            return
        if not element.replaced:
            return
        assert element.attrs is not None and element.chars is not None
        at = self.here()
        written = "".join(element.chars).strip()
        start, end = self._trimmed(element.start, element.end) if element.start >= 0 else (at, at)
        if name == "sub":
            said = element.attrs["alias"].strip()
            self.script.append(Said(said, start, end, rate=element.rate))
        elif name == "phoneme":
            if not written:
                self.fail("<phoneme> needs the written word inside it")
            self.script.append(Said(written, start, end, rate=element.rate, ipa=ipa_clean(element.attrs["ph"])))
        else:  # say-as: the written text said as its interpret-as asks
            if not written:
                self.fail("<say-as> needs the text it reads inside it")
            # Imported here: core.normalize imports this module's types.
            from core.normalize import say_as

            spoken = say_as(
                written, interpret_as=element.attrs["interpret-as"], date_format=element.attrs.get("format")
            )
            self.script.append(Said(spoken, start, end, rate=element.rate))

    # --- attribute values ----------------------------------------------------------------------
    def _break_seconds(self, attrs: dict[str, str]) -> float:
        if "time" not in attrs:
            strength = attrs.get("strength", "medium")
            if strength not in _BREAK_STRENGTHS:
                self.fail(f"<break strength={strength!r}> is not one of {', '.join(_BREAK_STRENGTHS)}")
            return _BREAK_STRENGTHS[strength]
        value = attrs["time"].strip()
        match = _TIME.fullmatch(value)
        if match is None:
            self.fail(f'<break time={value!r}> must be a time such as "500ms" or "1.5s"')
        seconds = float(match[1]) / (1000 if match[2] == "ms" else 1)
        if not 0 < seconds <= BREAK_SECONDS_MAX:
            self.fail(f"<break time={value!r}> must be more than 0 and at most {BREAK_SECONDS_MAX:g} s")
        return seconds

    def _rate(self, value: str) -> float:
        value = value.strip()
        if value in PROSODY_RATES:
            return PROSODY_RATES[value]
        match = _PERCENT.fullmatch(value)
        if match is None or not float(match[1]) > 0:
            words = ", ".join(PROSODY_RATES)
            self.fail(f'<prosody rate={value!r}> must be one of {words} or a percentage such as "80%"')
        return float(match[1]) / 100

    def _say_as_check(self, attrs: dict[str, str]) -> None:
        from core.normalize import SAY_AS  # here: core.normalize imports this module's types

        if attrs["interpret-as"] not in SAY_AS:
            self.fail(f"<say-as interpret-as={attrs['interpret-as']!r}> is not one of {', '.join(SAY_AS)}")

    def _phoneme_check(self, attrs: dict[str, str]) -> None:
        alphabet = attrs.get("alphabet", "ipa")
        if alphabet != "ipa":
            self.fail(f'<phoneme alphabet={alphabet!r}>: the one alphabet is "ipa"')
        problem = ipa_problem(ipa_clean(attrs["ph"]))
        if problem is not None:
            self.fail(f"<phoneme ph={attrs['ph'].strip()!r}>: {problem}")
