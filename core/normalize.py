"""Written forms said the way a person says them: numbers, money, dates, times, units, URLs and
e-mail addresses, in the pieces of a script (core/markup.py).

Number words come from ``num2words``; what is said around them (which form a string of digits is,
"dollars fifty", "dot com") is here. A written form becomes its own ``Said`` with the input span of
what it replaced, so a word timing or a caption still points at "$5.50" while the voice says "five
dollars fifty"; the text between forms keeps its own span and characters. English only; other
languages and ``ipa`` pieces pass through untouched. docs/timing.md, "Normalisation".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal

from num2words import num2words

from core.markup import Said, Script


def script_normalize(script: Script, *, language: str) -> Script:
    """``script`` with the written forms of its English pieces spelled as spoken."""
    if not _is_english(language):
        return script
    out: Script = []
    for piece in script:
        if isinstance(piece, Said) and piece.ipa is None:
            out.extend(_said_normalize(piece))
        else:
            out.append(piece)
    return out


SAY_AS = ("characters", "cardinal", "date", "telephone")  # <say-as interpret-as="...">
DATE_FORMATS = ("mdy", "dmy", "ymd", "ydm", "md", "dm", "ym", "my", "y", "m", "d")


def say_as(text: str, *, interpret_as: str, date_format: str | None = None, language: str = "en") -> str:
    """``text`` as <say-as interpret-as=...> asks it said (one of ``SAY_AS``; ``date_format`` is
    the element's ``format``, e.g. "mdy"). Text that is not what it is said to be (a "date" with a
    13th month, a "cardinal" of letters) is read as any other text would be."""
    if interpret_as not in SAY_AS:
        raise ValueError(f"interpret-as must be one of {', '.join(SAY_AS)}, not {interpret_as!r}")
    if date_format is not None and date_format not in DATE_FORMATS:
        raise ValueError(f"format must be one of {', '.join(DATE_FORMATS)}, not {date_format!r}")
    english = _is_english(language)
    lang = "en" if english else language.split("-")[0].lower()
    spoken: str | None
    if interpret_as == "characters":
        spoken = _characters(text, lang=lang)
    elif interpret_as == "cardinal":
        spoken = _cardinal_of(text.strip(), lang=lang)
    elif interpret_as == "telephone":
        spoken = _telephone(text, lang=lang)
    else:
        spoken = _date_as(text, date_format) if english else None
    if spoken is not None:
        return spoken
    return _text_normalize(text) if english else text


# --- the pieces ------------------------------------------------------------------------------


def _is_english(language: str) -> bool:
    return language.split("-")[0].lower() == "en"


def _said_normalize(said: Said) -> list[Said]:
    forms = list(_forms(said.text))
    if not forms:
        return [said]  # plain prose stays the piece it was
    if len(said.text) != said.end - said.start:
        # Its text is not the input's characters (an alias): no finer spans to give.
        return [replace(said, text=_joined(said.text, forms))]
    pieces, at = [], 0
    for start, end, spoken in forms:
        if start > at:
            pieces.append(replace(said, text=said.text[at:start], start=said.start + at, end=said.start + start))
        pieces.append(replace(said, text=spoken, start=said.start + start, end=said.start + end))
        at = end
    if at < len(said.text):
        pieces.append(replace(said, text=said.text[at:], start=said.start + at))
    return pieces


def _text_normalize(text: str) -> str:
    return _joined(text, list(_forms(text)))


def _joined(text: str, forms: list[tuple[int, int, str]]) -> str:
    out, at = [], 0
    for start, end, spoken in forms:
        out += [text[at:start], spoken]
        at = end
    return "".join([*out, text[at:]])


# --- number words (num2words) ----------------------------------------------------------------


def _words(number: int, *, to: str = "cardinal", lang: str = "en") -> str:
    if number >= 10**15:
        return _digits(str(number), lang=lang)  # past the trillions: an id, not an amount
    # num2words writes "one thousand, two hundred": a comma would make the voice pause.
    return str(num2words(number, to=to, lang=lang)).replace(",", "")


def _digits(digits: str, *, lang: str = "en") -> str:
    return " ".join(_words(int(d), lang=lang) for d in digits if d.isdigit())


def _number(written: str, *, lang: str = "en") -> str:
    """A written number ("1,200", "3.14", "-5", "007") as said."""
    written = written.replace(",", "").replace("−", "-")
    if lang != "en":
        return str(num2words(Decimal(written), lang=lang))
    sign, unsigned = ("minus ", written[1:]) if written.startswith("-") else ("", written)
    whole, _, fraction = unsigned.partition(".")
    code = len(whole) > 1 and whole.startswith("0")  # "007": a code, not an amount
    said = _digits(whole) if code else _words(int(whole or "0"))
    if fraction:
        said += " point " + _digits(fraction)
    return sign + said


def _year(year: str) -> str:
    return _words(int(year), to="year")


def _plural(words: str) -> str:
    """ "nineteen ninety" -> "nineteen nineties" (the decade)."""
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _one(number: str) -> bool:
    return number.replace(",", "") in ("1", "-1", "1.0")


# --- the forms -------------------------------------------------------------------------------

_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_MONTH_OF = {m.lower(): i for i, m in enumerate(_MONTHS, 1)} | {m[:3].lower(): i for i, m in enumerate(_MONTHS, 1)}
_MONTH_OF["sept"] = 9
# "Dec", "Dec.", "December", "Sept": the names and the short names _MONTH_OF knows.
_MONTH = "(?:" + "|".join(sorted((m.capitalize() for m in _MONTH_OF), key=len, reverse=True)) + ")"

# Currency sign or code -> (one, many, one hundredth, many hundredths).
_CURRENCIES = {
    "$": ("dollar", "dollars", "cent", "cents"),
    "£": ("pound", "pounds", "penny", "pence"),
    "€": ("euro", "euros", "cent", "cents"),
    "¥": ("yen", "yen", "", ""),
    "₹": ("rupee", "rupees", "paisa", "paise"),
}
_CURRENCY_CODES = {"USD": "$", "GBP": "£", "EUR": "€", "JPY": "¥", "INR": "₹"}
_SCALES = {
    "k": "thousand",
    "K": "thousand",
    "m": "million",
    "M": "million",
    "mn": "million",
    "b": "billion",
    "B": "billion",
    "bn": "billion",
    "T": "trillion",
    "tn": "trillion",
}

# Unit -> (one, many). Case counts: "m" is metres, "M" a million (money only).
_UNITS = {
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "mph": ("mile per hour", "miles per hour"),
    "m/s": ("meter per second", "meters per second"),
    "km": ("kilometer", "kilometers"),
    "m": ("meter", "meters"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "kg": ("kilogram", "kilograms"),
    "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "L": ("liter", "liters"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "TB": ("terabyte", "terabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "MB": ("megabyte", "megabytes"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "GHz": ("gigahertz", "gigahertz"),
    "MHz": ("megahertz", "megahertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "Hz": ("hertz", "hertz"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "kW": ("kilowatt", "kilowatts"),
    "W": ("watt", "watts"),
    "V": ("volt", "volts"),
    "mAh": ("milliamp hour", "milliamp hours"),
    "dB": ("decibel", "decibels"),
    "ms": ("millisecond", "milliseconds"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "px": ("pixel", "pixels"),
    "°C": ("degree Celsius", "degrees Celsius"),
    "°F": ("degree Fahrenheit", "degrees Fahrenheit"),
    "℃": ("degree Celsius", "degrees Celsius"),
    "℉": ("degree Fahrenheit", "degrees Fahrenheit"),
    "°": ("degree", "degrees"),
    "%": ("percent", "percent"),
}
_UNIT = "|".join(re.escape(u) for u in sorted([*_UNITS, *_CURRENCY_CODES], key=len, reverse=True))

# Abbreviation -> what is said; "before" says what must follow for it to be the abbreviation.
_ABBREVIATIONS = {
    "Dr.": ("Doctor", r" [A-Z]"),
    "Mr.": ("Mister", r" [A-Z]"),
    "Mrs.": ("Missus", r" [A-Z]"),
    "Ms.": ("Miz", r" [A-Z]"),
    "Prof.": ("Professor", r" [A-Z]"),
    "St.": ("Saint", r" [A-Z]"),
    "Jr.": ("Junior", r""),
    "Sr.": ("Senior", r""),
    "No.": ("number", r" ?\d"),
    "e.g.": ("for example", r""),
    "i.e.": ("that is", r""),
    "etc.": ("et cetera", r""),
    "vs.": ("versus", r""),
    "approx.": ("approximately", r""),
}
_ABBREVIATION = "|".join(
    rf"{re.escape(a)}(?={before})" if before else re.escape(a) for a, (_, before) in _ABBREVIATIONS.items()
)

_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?"
_LONE = r"(?![\w.,]\w|\w)"  # a number ends here: not "1.2.3", "1,2", "3D"
_BEFORE = r"(?<![\w.,\-−$£€¥₹])"  # a number starts here: not "x86", "v1.2"
_SIGN = r"(?:(?<![\w.\-−])[-−])?"
_TLD = r"(?:com|org|net|io|ai|dev|app|co|uk|de|fr|es|it|nl|eu|us|ca|au|edu|gov|info|me|tv)"
# Bounded (a DNS label is at most 63 characters) so that a long run of "a-a-a-..." costs little.
_LABEL = r"[A-Za-z0-9][A-Za-z0-9-]{0,62}"
_URL_END = r"[^\s<>\"'()\[\]{}]{0,500}[^\s<>\"'()\[\]{}.,;:!?]"
_YEAR = r"(?:1[1-9]\d\d|20\d\d)"
_YEAR_BEFORE = (
    r"\b(?:in|In|since|Since|by|By|from|From|until|till|of|year|during|During|before|after|around|circa|"
    + "|".join(_MONTHS)
    + r")\s+"
)

_PATTERN = re.compile(
    "|".join(
        [
            rf"(?P<email>(?<![\w.+-])[A-Za-z0-9][\w.+-]{{0,63}}@{_LABEL}(?:\.{_LABEL}){{0,8}}\.[A-Za-z]{{2,24}}\b)",
            rf"(?P<url>\b(?:https?://|www\.){_URL_END}|\b{_LABEL}(?:\.{_LABEL}){{0,8}}\.{_TLD}\b(?:/{_URL_END}|/)?)",
            r"(?P<phone>(?<![\w+])(?:\+\d{1,3}[\s.-]?)?(?:\(\d{3}\)|\d{3})[\s.-]?\d{3}[\s.-]\d{4}(?!\w))",
            r"(?P<iso>\b(?P<iso_y>\d{4})-(?P<iso_m>\d\d)-(?P<iso_d>\d\d)\b)",
            r"(?P<slashed>\b(?P<sl_a>\d{1,2})/(?P<sl_b>\d{1,2})/(?P<sl_y>\d{4}|\d\d)\b)",
            rf"(?P<named>\b(?P<nm_m>{_MONTH})\.?\s+(?P<nm_d>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<nm_y>{_YEAR})\b)?)",
            rf"(?P<named_dm>\b(?P<dm_d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<dm_m>{_MONTH})\b\.?(?:,?\s+(?P<dm_y>{_YEAR})\b)?)",
            r"(?P<clock>\b(?P<ck_h>[01]?\d|2[0-3]):(?P<ck_m>[0-5]\d)(?!:?\d)(?:\s?(?P<ck_ap>[AaPp])\.?[Mm]\b\.?)?)",
            r"(?P<hour>\b(?P<hr_h>1[0-2]|0?[1-9])\s?(?P<hr_ap>[AaPp])\.?[Mm]\b\.?)",
            rf"(?P<year>{_YEAR_BEFORE}(?P<yr>{_YEAR})(?P<yr_s>s)?(?:\s?[-–]\s?(?P<yr_to>{_YEAR}))?\b)",
            r"(?P<decade>(?:\b(?P<dc_y>1[1-9]\d0|20\d0)|(?<!\w)['’](?P<dc_short>\d0))s\b)",
            (
                rf"(?P<money>{_SIGN}(?<!\w)(?P<mo_cur>[$£€¥₹])\s?(?P<mo_n>{_NUM})"
                rf"(?:\s?[-–]\s?[$£€¥₹]?(?P<mo_to>{_NUM}))?"
                r"(?:\s?(?P<mo_word>thousand|million|billion|trillion)\b|(?P<mo_scale>mn|bn|tn|[kKmMbBT])\b)?)"
            ),
            rf"(?P<ordinal>{_BEFORE}\b(?P<or_n>\d+)(?:st|nd|rd|th)\b)",
            (
                rf"(?P<quantity>{_BEFORE}(?P<qt_n>{_SIGN}{_NUM})(?:\s?[-–]\s?(?!0\d)(?P<qt_to>{_NUM}))?"
                rf"(?:\s?(?P<qt_unit>{_UNIT})(?![\w/])|{_LONE}))"
            ),
            rf"(?P<abbreviation>(?<![\w.])(?:{_ABBREVIATION})(?!\w))",
        ]
    )
)


def _forms(text: str) -> Iterator[tuple[int, int, str]]:
    """Each written form of ``text``: (start, end, what is said), in order, none overlapping."""
    for match in _PATTERN.finditer(text):
        kind = match.lastgroup
        assert kind is not None
        form = _READERS[kind](match)
        if form is None:
            continue  # looked like one (a 13th month...): left as written
        start, end, spoken = form
        # "at 3 p.m." ends its sentence: the full stop stays. ("Dr. Smith": the abbreviation's.)
        if text[end - 1 : end] == "." and match.group() not in _TITLES and _ends_sentence(text, end):
            end -= 1
        yield start, end, spoken


_TITLES = {a for a, (_, before) in _ABBREVIATIONS.items() if before}


def _ends_sentence(text: str, end: int) -> bool:
    rest = text[end:].lstrip()
    return not rest or rest[0].isupper() or rest[0] in "\"'”’)"


Form = tuple[int, int, str] | None


def _whole(match: re.Match[str], spoken: str) -> Form:
    return match.start(), match.end(), spoken


def _read_email(match: re.Match[str]) -> Form:
    return _whole(match, _address(match.group()))


def _read_url(match: re.Match[str]) -> Form:
    url = re.sub(r"^https?://", "", match.group()).rstrip("/")
    if url.lower().startswith("www."):
        return _whole(match, "w w w dot " + _address(url[4:]))
    return _whole(match, _address(url))


_SYMBOLS = {
    ".": "dot",
    "/": "slash",
    "-": "dash",
    "_": "underscore",
    "@": "at",
    ":": "colon",
    "?": "question mark",
    "=": "equals",
    "&": "and",
    "#": "hash",
    "+": "plus",
    "%": "percent",
    "~": "tilde",
}


def _address(address: str) -> str:
    """An e-mail address or a URL as read out: "name at example dot com slash docs"."""
    said = []
    for run in re.findall(r"[^\W\d_]+|\d+|.", address):
        if run.isdigit():
            said.append(_number(run) if len(run) <= 4 else _digits(run))
        elif run in _SYMBOLS:
            said.append(_SYMBOLS[run])
        elif run.strip():
            said.append(run)
    return " ".join(said)


def _read_phone(match: re.Match[str]) -> Form:
    return _whole(match, _telephone(match.group()) or match.group())


def _date(year: str | None, month: int, day: int | None) -> str | None:
    if not 1 <= month <= 12 or (day is not None and not 1 <= day <= 31):
        return None
    said = _MONTHS[month - 1]
    if day is not None:
        said += " " + _words(day, to="ordinal")
    if year is not None:
        said += (", " if day is not None else " ") + _short_year(year)
    return said


def _short_year(year: str) -> str:
    if len(year) == 2:
        return "oh " + _words(int(year)) if year.startswith("0") else _words(int(year))
    return _year(year)


def _read_iso(match: re.Match[str]) -> Form:
    said = _date(match["iso_y"], int(match["iso_m"]), int(match["iso_d"]))
    return _whole(match, said) if said else None


def _read_slashed(match: re.Match[str]) -> Form:
    first, second = int(match["sl_a"]), int(match["sl_b"])
    # English as this product speaks it is American: month first, unless the first cannot be one.
    month, day = (second, first) if first > 12 else (first, second)
    said = _date(match["sl_y"], month, day)
    return _whole(match, said) if said else None


def _read_named(match: re.Match[str]) -> Form:
    said = _date(match["nm_y"], _MONTH_OF[match["nm_m"].lower()], int(match["nm_d"]))
    return _whole(match, said) if said else None


def _read_named_dm(match: re.Match[str]) -> Form:
    day, month = int(match["dm_d"]), _MONTH_OF[match["dm_m"].lower()]
    if not 1 <= day <= 31:
        return None
    said = f"the {_words(day, to='ordinal')} of {_MONTHS[month - 1]}"
    if match["dm_y"]:
        said += ", " + _year(match["dm_y"])
    return _whole(match, said)


def _meridiem(letter: str | None) -> str:
    # espeak reads a lone "A" before a word as the article "a": "eh" is its letter name.
    return {"a": " eh M", "p": " P M"}.get((letter or "").lower(), "")


def _read_clock(match: re.Match[str]) -> Form:
    hour, minute, meridiem = int(match["ck_h"]), int(match["ck_m"]), match["ck_ap"]
    said = _words(hour)
    if minute == 0:
        if meridiem:
            pass  # "three P M"
        elif 0 < hour <= 12:
            said += " o'clock"
        else:
            said += " hundred"  # "fifteen hundred", "zero hundred"
    elif minute < 10:
        said += " oh " + _words(minute)
    else:
        said += " " + _words(minute)
    return _whole(match, said + _meridiem(meridiem))


def _read_hour(match: re.Match[str]) -> Form:
    return _whole(match, _words(int(match["hr_h"])) + _meridiem(match["hr_ap"]))


def _read_year(match: re.Match[str]) -> Form:
    said = _year(match["yr"])
    if match["yr_s"]:
        said = _plural(said)
    if match["yr_to"]:
        said += " to " + _year(match["yr_to"])
    return match.start("yr"), match.end(), said


def _read_decade(match: re.Match[str]) -> Form:
    said = _year(match["dc_y"]) if match["dc_y"] else _words(int(match["dc_short"]))
    return _whole(match, _plural(said))


def _money(currency: str, amount: str, up_to: str | None = None, scale: str | None = None) -> str:
    one, many, hundredth, hundredths = _CURRENCIES[currency]
    whole, _, cents = amount.replace(",", "").partition(".")
    if up_to is None and scale is None and hundredth and len(cents) == 2:
        # "$5.50": "five dollars fifty"; "$0.50": "fifty cents".
        dollars, cents_n = int(whole or "0"), int(cents)
        if dollars == 0:
            return f"{_words(cents_n)} {hundredth if cents_n == 1 else hundredths}"
        said = f"{_words(dollars)} {one if dollars == 1 else many}"
        return said + (f" {_words(cents_n)}" if cents_n else "")
    said = _number(amount)
    if up_to is not None:
        said += " to " + _number(up_to)
    if scale:
        return f"{said} {scale} {many}"
    return f"{said} {one if _one(up_to or amount) else many}"


def _read_money(match: re.Match[str]) -> Form:
    scale = match["mo_word"] or (_SCALES[match["mo_scale"]] if match["mo_scale"] else None)
    said = _money(match["mo_cur"], match["mo_n"], match["mo_to"], scale)
    if match.group().startswith(("-", "−")):
        said = "minus " + said
    return _whole(match, said)


def _read_ordinal(match: re.Match[str]) -> Form:
    return _whole(match, _words(int(match["or_n"]), to="ordinal"))


def _read_quantity(match: re.Match[str]) -> Form:
    number, up_to, unit = match["qt_n"], match["qt_to"], match["qt_unit"]
    if unit in _CURRENCY_CODES:
        if number.startswith(("-", "−")):
            return _whole(match, "minus " + _money(_CURRENCY_CODES[unit], number[1:], up_to))
        return _whole(match, _money(_CURRENCY_CODES[unit], number, up_to))
    if up_to is not None and re.fullmatch(_YEAR, number) and re.fullmatch(_YEAR, up_to) and not unit:
        return _whole(match, f"{_year(number)} to {_year(up_to)}")  # "1999-2005"
    said = _number(number)
    if up_to is not None:
        said += " to " + _number(up_to)
    if unit:
        one, many = _UNITS[unit]
        said += " " + (one if up_to is None and _one(number) else many)
    return _whole(match, said)


def _read_abbreviation(match: re.Match[str]) -> Form:
    return _whole(match, _ABBREVIATIONS[match.group()][0])


_READERS: dict[str, Callable[[re.Match[str]], Form]] = {
    "email": _read_email,
    "url": _read_url,
    "phone": _read_phone,
    "iso": _read_iso,
    "slashed": _read_slashed,
    "named": _read_named,
    "named_dm": _read_named_dm,
    "clock": _read_clock,
    "hour": _read_hour,
    "year": _read_year,
    "decade": _read_decade,
    "money": _read_money,
    "ordinal": _read_ordinal,
    "quantity": _read_quantity,
    "abbreviation": _read_abbreviation,
}


# --- <say-as> --------------------------------------------------------------------------------


def _characters(text: str, *, lang: str) -> str:
    """Spelled out: "ABC" -> "A B C" (with "eh" for A: see ``_meridiem``), digits one by one."""
    said = []
    for ch in text:
        if ch.isdigit():
            said.append(_digits(ch, lang=lang) if _has_words(lang) else ch)
        elif ch.isalpha():
            said.append("eh" if lang == "en" and ch in "aA" else ch.upper())
        elif lang == "en" and ch in _SYMBOLS:
            said.append(_SYMBOLS[ch])
    return " ".join(said)


def _cardinal_of(text: str, *, lang: str) -> str | None:
    if not re.fullmatch(rf"[-−]?{_NUM}", text) or not _has_words(lang):
        return None
    return _number(text, lang=lang)


def _telephone(text: str, *, lang: str = "en") -> str | None:
    """Digit groups said digit by digit, a pause between groups: "+1 (555) 010-2030" -> "plus
    one, five five five, zero one zero, two zero three zero"."""
    groups = re.findall(r"\d+", text)
    if not groups or not _has_words(lang):
        return None
    said = ", ".join(_digits(g, lang=lang) for g in groups)
    return ("plus " if lang == "en" else "+ ") + said if text.lstrip().startswith("+") else said


def _date_as(text: str, date_format: str | None) -> str | None:
    fields = re.findall(r"\d+", text)
    if date_format is None:  # as written: 2026-12-01, 12/01/2026, 12/01, 2026
        guess = {1: "y", 2: "md", 3: "ymd" if fields and len(fields[0]) == 4 else "mdy"}
        date_format = guess.get(len(fields), "")
    if len(fields) != len(date_format):
        return None
    parts = dict(zip(date_format, fields, strict=True))
    year, month, day = parts.get("y"), parts.get("m"), parts.get("d")
    if month is None:
        if year is not None and day is None:
            return _short_year(year)
        return _words(int(day), to="ordinal") if day is not None and year is None else None
    return _date(year, int(month), int(day) if day is not None else None)


def _has_words(lang: str) -> bool:
    try:
        num2words(1, lang=lang)
    except NotImplementedError:
        return False
    return True
