"""Prices and amounts. 1 credit = 1,000,000 micro-credits; a second of audio costs 1,000, so one
micro-credit buys a millisecond: audio is billed to the millisecond."""

import math
import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from engine.protocol import BYTES_PER_SECOND

MICRO = 1_000_000
PRICE_PER_SECOND = 1_000
CLONE_PRICE = 25_000

_DIGITS = re.compile(r"\d")
# An ordinary reading pace of the voices, for estimates shown before generating (measured: about
# 15 characters a second).
SECONDS_PER_CHAR_TYPICAL = 0.067


def speech_cost(pcm_bytes: int) -> int:
    """The price of audio: its length in milliseconds, rounded to the nearest."""
    millis = Decimal(pcm_bytes * 1000) / BYTES_PER_SECOND
    return int(millis.to_integral_value(rounding=ROUND_HALF_UP)) * PRICE_PER_SECOND // 1000


def speech_seconds_max(text: str) -> float:
    """The longest audio a text may become: a slow reading of its words, and numbers spelled out
    at length. The hold is priced from it and the engine is told never to exceed it."""
    digits = len(_DIGITS.findall(text))
    return round(2.0 + 0.12 * (len(text) - digits) + 0.6 * digits, 3)


def speech_hold(seconds_max: float) -> int:
    return math.ceil(seconds_max * PRICE_PER_SECOND)


def credits_format(micro: int) -> str:
    """An amount for people: credits with their decimals, at least three, e.g. 0.0103 or 1.000."""
    text = f"{Decimal(micro) / MICRO:.6f}".rstrip("0")
    whole, _, decimals = text.partition(".")
    return f"{whole}.{decimals.ljust(3, '0')}"


class AmountError(ValueError):
    pass


def credits_parse(text: str) -> int:
    """Credits as people write them ("5", "0.25", "-1.5") into micro-credits; at most 6 decimals."""
    try:
        amount = Decimal(str(text).strip().replace(",", ""))
    except InvalidOperation:
        raise AmountError(f"{text!r} is not an amount of credits") from None
    if not amount.is_finite():
        raise AmountError(f"{text!r} is not an amount of credits")
    micro = amount * MICRO
    if micro != micro.to_integral_value():
        raise AmountError("credits have at most 6 decimals")
    if abs(micro) > 10**15:
        raise AmountError("that amount is too large")
    return int(micro)
