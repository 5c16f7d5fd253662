"""Voice names and speaker-profile kinds, as both sides of the wire know them.

The engine (engine/backends.py) and its clients (engine/pool.py, the web's voices) compare voice
names and route speaker profiles by kind with these; nothing here synthesises, so the web imports
it without the engine's models (the import-linter contracts in pyproject.toml).
"""

from engine.languages import PROFILE_KIND_BACKEND

KOKORO_KIND = "kokoro"  # engine/kokoro_profile.py's profiles; named here so the web need not import numpy
KNOWN_PROFILE_KINDS = tuple(PROFILE_KIND_BACKEND)  # engine/languages.py: the backend of each kind
# Which quick profile a new clone speaks with, best first, where an engine makes several
# (bench/clone_similarity.py on SLT, KAL, KED, docs/cloning.md: Kokoro's is as natural as Joe,
# WORLD's buzzes); the pool sends /speakers/encode to an engine that makes the first it can.
DEFAULT_PROFILE_KINDS = ("kokoro", "world")


class ProfileError(ValueError):
    """A speaker profile that is not a valid one of its kind (the API's 400 invalid_profile)."""


def profile_kind(profile: object) -> str:
    """``"world"`` for the older profiles without ``kind``, else the profile's kind."""
    if not isinstance(profile, dict):
        raise ProfileError("'profile' must be a JSON object")
    kind = profile.get("kind", "world")
    if not isinstance(kind, str):
        raise ProfileError("profile field 'kind' must be a string")
    return kind


def voice_key(name: str) -> str:
    """How voice names are compared: case-insensitively, and the legacy docs' "...-NEURAL" is
    "...-NEUTRAL"."""
    return name.strip().upper().replace("NEURAL", "NEUTRAL")
