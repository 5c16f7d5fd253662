"""The backends one engine process hosts, and which of them speaks each voice.

``ENGINE_BACKENDS`` names them, in order (default ``piper,kokoro``; engine/settings.py reads it):

- ``piper``: Piper with Joe (``EN-MALE-1-NEUTRAL``); it speaks and makes WORLD speaker profiles
  (clones as transforms of Joe, kind ``world``). It speaks English.
- ``kokoro``: Kokoro-82M (``EN-FEMALE-1-NEUTRAL``, ``EN-FEMALE-2-NEUTRAL``, ``EN-MALE-2-NEUTRAL``,
  ``JA-FEMALE-1-NEUTRAL``, ``JA-FEMALE-2-NEUTRAL``, ``JA-MALE-1-NEUTRAL``); it speaks and makes
  Kokoro speaker profiles (kind ``kokoro``, engine/kokoro_profile.py). It speaks English and
  Japanese, in every one of its voices and profiles.

Each backend declares the languages it speaks (``languages``, from engine/languages.py); a
request's language must be one of its voice's backend. A speaker profile goes to the backend that
speaks its kind (``profile_backend``); a profile without ``kind`` is a WORLD one.
``POST /speakers/encode`` asks every backend for its quick profile.

A voice name belongs to exactly one backend, so a name sounds the same on every engine that
serves it; ``/voices`` and ``/health`` list what this process serves, and the workers' pool
(engine/pool.py) sends each job to an engine that has its voice.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from engine.profiles import KNOWN_PROFILE_KINDS, ProfileError, profile_kind, voice_key

if TYPE_CHECKING:
    import numpy as np

    from engine.timing import Spoken
    from engine.voice_fit import Reference


class Backend(Protocol):
    """What a backend (engine/piper_engine.py, engine/kokoro_engine.py) offers the app; its model
    loads lazily and unloads when idle (engine/lifecycle.py). Voices and chunks are its own types."""

    @property
    def name(self) -> str: ...
    @property
    def voices(self) -> Mapping[str, Any]: ...
    @property
    def languages(self) -> tuple[str, ...]: ...
    @property
    def profile_kinds(self) -> tuple[str, ...]: ...
    @property
    def warm(self) -> bool: ...
    @property
    def pace_exponent(self) -> float: ...  # asked for speed s, it speaks s ** this times as fast
    @property
    def first_phrase(self) -> bool: ...  # a request's first chunk is a short phrase (engine/text.py)
    def load(self) -> bool: ...
    def begin(self) -> None: ...
    def end(self) -> None: ...
    def unload_if_idle(self, now: float | None = None) -> bool: ...
    def prepare(self, text: str, language: str = "en", *, first_short: bool = True) -> list[Any]: ...
    def prepare_phonemes(self, ipa: str, text: str, language: str = "en") -> Any: ...  # ValueError: unsayable
    def profile_voice(self, profile: Any) -> Any: ...
    def voice_at_speed(self, voice: Any, speed: float) -> Any: ...
    def encode_speaker(self, ref: Reference) -> tuple[dict, dict]: ...
    def synthesize_chunk(
        self, chunk: Any, voice: Any, temperature: float | None = None, cancelled: threading.Event | None = None
    ) -> np.ndarray: ...
    def synthesize_chunk_timed(
        self, chunk: Any, voice: Any, temperature: float | None = None, cancelled: threading.Event | None = None
    ) -> Spoken: ...  # the audio and its words' timings (None where the backend has none)


class BackendsConfigError(ValueError):
    pass


class ProfilesUnavailable(LookupError):
    """No backend of this process speaks that kind of speaker profile."""


@dataclass(frozen=True)
class Resolved:
    backend: Backend
    voice: Any  # its voice (a piper_engine.Voice, a kokoro_engine.KokoroVoice)


class Backends:
    def __init__(self, backends: list[Backend]) -> None:
        if not backends:
            raise BackendsConfigError("an engine needs at least one backend")
        self.all = list(backends)
        self._by_voice: dict[str, Resolved] = {}
        for backend in self.all:
            for name, voice in backend.voices.items():
                key = voice_key(name)
                if key in self._by_voice:
                    raise BackendsConfigError(f"voice {name} is spoken by two backends")
                self._by_voice[key] = Resolved(backend, voice)
        # The backend that speaks (and makes) each kind of speaker profile this process hosts.
        self.profiles: dict[str, Backend] = {}
        for backend in self.all:
            for kind in backend.profile_kinds:
                self.profiles.setdefault(kind, backend)

    @classmethod
    def create(
        cls, names: tuple[str, ...], *, idle_unload_seconds: float, threads: int, kokoro_cache: Path | None = None
    ) -> Backends:
        built: list[Backend] = []
        for name in names:
            if name == "piper":
                from engine.piper_engine import PiperEngine

                built.append(PiperEngine(idle_unload_seconds=idle_unload_seconds, threads=threads))
            elif name == "kokoro":
                from engine.kokoro_engine import KokoroEngine

                built.append(KokoroEngine(idle_unload_seconds=idle_unload_seconds, threads=threads, cache=kokoro_cache))
        return cls(built)

    @property
    def name(self) -> str:
        return "+".join(backend.name for backend in self.all)

    @property
    def warm(self) -> bool:
        """Some model is loaded (a request for one of its voices will not warm up)."""
        return any(backend.warm for backend in self.all)

    @property
    def profile_kinds(self) -> list[str]:
        return list(self.profiles)

    def profile_backend(self, profile: object) -> Backend:
        """The backend that speaks ``profile``'s kind; ``ProfileError`` if the kind is unknown,
        ``ProfilesUnavailable`` if no backend here speaks it."""
        kind = profile_kind(profile)
        if kind not in KNOWN_PROFILE_KINDS:
            raise ProfileError(f"unknown profile kind {kind!r}; kinds: {', '.join(KNOWN_PROFILE_KINDS)}")
        if kind not in self.profiles:
            raise ProfilesUnavailable(kind)
        return self.profiles[kind]

    def resolve(self, name: str) -> Resolved | None:
        return self._by_voice.get(voice_key(name))

    def voice_names(self) -> list[str]:
        return [name for backend in self.all for name in backend.voices]

    def languages(self) -> list[str]:
        """Every language some backend here speaks."""
        return list(dict.fromkeys(lang for backend in self.all for lang in backend.languages))

    def list_voices(self) -> list[dict]:
        return [
            {**voice.public(), "engine": backend.name, "languages": list(backend.languages)}
            for backend in self.all
            for voice in backend.voices.values()
        ]

    def describe(self) -> list[dict]:
        return [
            {
                "name": backend.name,
                "warm": backend.warm,
                "voices": list(backend.voices),
                "languages": list(backend.languages),
            }
            for backend in self.all
        ]

    def unload_if_idle(self) -> None:
        for backend in self.all:
            backend.unload_if_idle()
