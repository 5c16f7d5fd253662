"""Prices and amounts. 1 credit = 1,000,000 micro-credits; a second of audio costs 1,000, so one
micro-credit buys a millisecond: audio is billed to the millisecond."""

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from core.errors import ApplicationError
from core.markup import Pause, Script
from engine.languages import KANA, KANJI
from engine.protocol import BYTES_PER_SECOND, MAX_SPEED, MIN_SPEED

MICRO = 1_000_000
PRICE_PER_SECOND = 1_000
CLONE_PRICE = 25_000

_DIGITS = re.compile(r"\d")
# An ordinary reading pace of the voices, for estimates shown before generating (measured: about
# 15 characters a second).
SECONDS_PER_CHAR_TYPICAL = 0.067
# The same for a kana or a kanji, which says more (measured: 0.18 to 0.23 s with Kokoro's voices).
SECONDS_PER_JAPANESE_CHAR_TYPICAL = 0.2


def speech_cost(pcm_bytes: int) -> int:
    """The price of audio: its length in milliseconds, rounded to the nearest."""
    millis = Decimal(pcm_bytes * 1000) / BYTES_PER_SECOND
    return int(millis.to_integral_value(rounding=ROUND_HALF_UP)) * PRICE_PER_SECOND // 1000


def speech_seconds_max(text: str) -> float:
    """The longest audio a text may become: a slow reading of its words, and numbers spelled out
    at length. The hold is priced from it and the engine is told never to exceed it. Japanese
    says more a character: a kana is a mora, a kanji often two or three (Kokoro's voices measured
    0.18 s a character on average, 0.23-0.26 s on kanji-heavy text), so both are counted apart."""
    return round(2.0 + _text_seconds_max(text), 3)


def script_seconds_max(script: Script, *, speed: float) -> float:
    """``speech_seconds_max`` of a script (core/markup.py) at ``speed``: each piece's text (its IPA
    where it has one) at its rate times the speed (held to the speed range, as the engine holds
    it), and the pauses as they are, as the engine makes them exactly. The tags
    count nothing. Plain text (one piece at rate 1) comes to ``speech_seconds_max(text) / speed``."""
    seconds = 2.0 / speed
    for piece in script:
        if isinstance(piece, Pause):
            seconds += piece.seconds
        else:
            pace = min(max(speed * piece.rate, MIN_SPEED), MAX_SPEED)
            seconds += _text_seconds_max(piece.ipa or piece.text) / pace
    return round(seconds, 3)


def _text_seconds_max(text: str) -> float:
    digits = len(_DIGITS.findall(text))
    kana, kanji = len(KANA.findall(text)), len(KANJI.findall(text))
    others = len(text) - digits - kana - kanji
    return 0.12 * others + 0.6 * digits + 0.25 * kana + 0.6 * kanji


def speech_hold(seconds_max: float) -> int:
    return math.ceil(seconds_max * PRICE_PER_SECOND)


def credits_format(micro: int) -> str:
    """An amount for people: credits with their decimals, at least three, e.g. 0.0103 or 1.000."""
    text = f"{Decimal(micro) / MICRO:.6f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(3, '0')}"


class AmountError(ApplicationError, ValueError):
    """Text that is not an amount of credits (VALIDATION_ERROR); a ValueError too, as parsers' are."""

    def __init__(self, message: str) -> None:
        super().__init__("VALIDATION_ERROR", message)


# The largest amount one grant or adjustment may name: a billion credits.
CREDITS_PARSE_MAX = 10**9 * MICRO


def credits_parse(text: str) -> int:
    """Credits as people write them ("5", "0.25", "-1.5") into micro-credits; at most 6 decimals.
    Anything else (not a number, NaN, infinities, absurd exponents or lengths) is an AmountError,
    checked before any arithmetic, so no input can overflow or round to something it did not say."""
    raw = str(text).strip().replace(",", "")
    if len(raw) > 40:
        raise AmountError("that is not an amount of credits (too long)")
    try:
        amount = Decimal(raw)
    except (InvalidOperation, ValueError):
        raise AmountError(f"{raw!r} is not an amount of credits") from None
    if not amount.is_finite():
        raise AmountError(f"{raw!r} is not an amount of credits")
    if amount.is_zero():
        return 0
    if amount.adjusted() >= 10:  # its leading digit is worth 10**10 credits or more
        raise AmountError(f"that amount is too large (at most {CREDITS_PARSE_MAX // MICRO:,} credits)")
    if amount.adjusted() < -6:  # not zero, and smaller than a micro-credit
        raise AmountError("credits have at most 6 decimals")
    # In integers from here: Decimal's context would round (or trap on) what is out of its range.
    sign, digits, exponent = amount.as_tuple()
    assert isinstance(exponent, int)  # a finite Decimal's (checked above), never 'n', 'N' or 'F'
    scaled, shift = int("".join(map(str, digits))), exponent + 6
    if shift < 0 and scaled % 10**-shift:
        raise AmountError("credits have at most 6 decimals")
    micro = (-1 if sign else 1) * (scaled * 10**shift if shift >= 0 else scaled // 10**-shift)
    if abs(micro) > CREDITS_PARSE_MAX:
        raise AmountError(f"that amount is too large (at most {CREDITS_PARSE_MAX // MICRO:,} credits)")
    return micro
