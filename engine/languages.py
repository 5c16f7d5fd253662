"""The languages the engines speak, and the language of a text.

Shared by the engine (which phonemises by the request's language) and the web (which refuses a
language the voice's engine does not speak before anything is held or charged), so both read the
same table and the same detection.

- A language is its primary subtag, lower case: "en", "ja". Requests may name a regional tag
  ("en-US", "ja_JP", "JA"); ``language_normalize`` reduces it.
- ``BACKEND_LANGUAGES``: what each backend speaks (engine/backends.py hosts the backends). Any voice
  of a backend may read any of its languages: an English Kokoro voice reads Japanese too
  (cross-lingual), with its own timbre and a Japanese accent of the packs' training.
- ``language_detect``: kana or CJK ideographs make a text Japanese, anything else is English. A
  script check is enough for the two languages spoken; it needs no model.
"""

from __future__ import annotations

import re

BACKEND_LANGUAGES: dict[str, tuple[str, ...]] = {"piper": ("en",), "kokoro": ("en", "ja")}
LANGUAGE_NAMES = {"en": "English", "ja": "Japanese"}
# Speaker-profile kinds (engine/voice_transform.py, Kokoro profiles) and the backend speaking them;
# a profile without a kind is a WORLD transform of Joe.
PROFILE_KIND_BACKEND = {"world": "piper", "kokoro": "kokoro"}

_TAG = re.compile(r"^([A-Za-z]{2,3})(?:[-_][A-Za-z0-9]{1,8})*$")
# Hiragana, katakana (with the prolonged sound mark, the phonetic extensions, the half-width forms);
# CJK ideographs (extension A, unified, compatibility).
KANA = re.compile("[\u3040-\u30ff\u31f0-\u31ff\uff66-\uff9f]")
KANJI = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def language_normalize(tag: object) -> str | None:
    """The primary language subtag of a BCP 47-like tag ("en-US" -> "en"), or None when ``tag``
    is not one."""
    if not isinstance(tag, str):
        return None
    match = _TAG.match(tag.strip())
    return match.group(1).lower() if match else None


def language_detect(text: str) -> str:
    """ "ja" for a text with kana or CJK ideographs in it, "en" otherwise."""
    return "ja" if KANA.search(text) or KANJI.search(text) else "en"


def languages_spoken() -> tuple[str, ...]:
    """Every language some backend speaks."""
    return tuple(dict.fromkeys(lang for langs in BACKEND_LANGUAGES.values() for lang in langs))


def profile_backend(profile: dict) -> str:
    """The backend that speaks a speaker profile, by its kind."""
    from engine.profiles import profile_kind  # engine.profiles reads this module's table

    return PROFILE_KIND_BACKEND.get(profile_kind(profile), "piper")
