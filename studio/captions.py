"""Captions of a take from its words' timings (Generation.words): SRT or WebVTT, written by the
formats' own libraries (`srt`, `webvtt-py`).

A cue is a run of words cut the way subtitle guides cut them: at the end of a sentence, at a pause,
or before it grows past two lines of CAPTION_LINE_CHARS or CAPTION_SECONDS_MAX. Its text is the
input's own, punctuation included (the words carry their character offsets into it).
"""

import datetime
import html
import re
import textwrap
from collections.abc import Sequence

import srt
import webvtt
from django.http import HttpResponse

from core.markup import is_markup
from studio.models import Generation
from studio.selectors import generation_download_name, generation_words_written

CAPTION_CONTENT_TYPES = {"srt": "application/x-subrip; charset=utf-8", "vtt": "text/vtt; charset=utf-8"}
CAPTION_LINE_CHARS = 42
CAPTION_SECONDS_MAX = 6.0
# A silence this long between two words ends a cue (a reader's breath, a paragraph).
CAPTION_PAUSE_SECONDS = 0.6
_SENTENCE_ENDS = (".", "!", "?", "…")  # English: the only language with word timings
# A tag of the markup (core/markup.py), quoted attribute values and all ("a>b" in one included).
_TAG = re.compile(r"""<(?:[^>"']|"[^"]*"|'[^']*')*>""")


def captions_render(*, text: str, words: Sequence[dict], format_name: str) -> str:
    """The captions of a take whose input is `text`, in `format_name` (one of CAPTION_FORMATS)."""
    cues = [(start, end, "\n".join(textwrap.wrap(line, CAPTION_LINE_CHARS))) for start, end, line in _cues(text, words)]
    if format_name == "srt":
        return srt.compose(
            [
                srt.Subtitle(i, datetime.timedelta(seconds=start), datetime.timedelta(seconds=end), line)
                for i, (start, end, line) in enumerate(cues, start=1)
            ]
        )
    captions = [webvtt.Caption(start=_vtt_time(start), end=_vtt_time(end), text=line) for start, end, line in cues]
    return webvtt.WebVTT(captions=captions).content


def captions_response(*, generation: Generation, format_name: str, download: bool) -> HttpResponse:
    """The take's captions as the Studio and the API serve them (the caller has checked who asks,
    the format, and that the take has words)."""
    body = captions_render(text=generation.text, words=generation.words, format_name=format_name)
    response = HttpResponse(body, content_type=CAPTION_CONTENT_TYPES[format_name])
    if download:
        response["Content-Disposition"] = f'attachment; filename="{generation_download_name(generation)}.{format_name}"'
    return response


def _cues(text: str, words: Sequence[dict]) -> list[tuple[float, float, str]]:
    cues: list[tuple[float, float, str]] = []
    run: list[dict] = []
    for word in generation_words_written(words=list(words)):
        if run and _cue_ends_before(text, run, word):
            cues.append(_cue(text, run))
            run = []
        run.append(word)
    if run:
        cues.append(_cue(text, run))
    return cues


def _cue_ends_before(text: str, run: list[dict], word: dict) -> bool:
    last = run[-1]
    return (
        _said(text, last).endswith(_SENTENCE_ENDS)
        or word["start"] - last["end"] >= CAPTION_PAUSE_SECONDS
        or word["end"] - run[0]["start"] > CAPTION_SECONDS_MAX
        or word["char_end"] - run[0]["char_start"] > 2 * CAPTION_LINE_CHARS
    )


def _cue(text: str, run: list[dict]) -> tuple[float, float, str]:
    span = text[run[0]["char_start"] : _said_end(text, run[-1])]
    return run[0]["start"], run[-1]["end"], _readable(span) if is_markup(text) else span


def _readable(span: str) -> str:
    """Markup's characters as a reader sees them: its tags left out, its entities ("&amp;") as
    the characters they stand for."""
    # An element's tags hold to its words ("there</prosody>,"); a <break/> stands between words.
    return " ".join(html.unescape(_TAG.sub(lambda tag: " " if tag[0].endswith("/>") else "", span)).split())


def _said(text: str, word: dict) -> str:
    """The word as the input has it, with the punctuation that follows it ("dog." for "dog")."""
    return text[word["char_start"] : _said_end(text, word)]


def _said_end(text: str, word: dict) -> int:
    end = word["char_end"]
    while end < len(text) and not text[end].isspace() and not (text[end] == "<" and is_markup(text)):
        end += 1
    return end


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"
