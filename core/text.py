"""Text from people, made safe to store and speak: control characters out, and nothing PostgreSQL
refuses (a NUL, a lone surrogate from a JSON "\\ud800") reaches a query."""

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def text_storable(text: str) -> bool:
    """False for text a database cannot hold: NULs and lone surrogates."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def text_without_controls(text: str) -> str:
    """Control characters other than tab and newline become spaces."""
    return _CONTROL.sub(" ", text)


def name_clean(value: object, *, min_length: int = 1, max_length: int) -> str | None:
    """A name as people see it (one line, no control characters), or None when it cannot be one."""
    if not isinstance(value, str) or not text_storable(value):
        return None
    name = " ".join(text_without_controls(value).split())
    return name if min_length <= len(name) <= max_length else None
