"""A model loaded on first use, kept while it is used, dropped after a while without work.

Every backend (``engine.piper_engine``, ``engine.kokoro_engine``) is one: the process loads only
the models its requests need, and gives their memory back when they go idle (scale-to-zero on GPU
machines, RSS on small ones).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

log = logging.getLogger("engine.lifecycle")

M = TypeVar("M")  # what a backend loads (a Piper voice, a Kokoro session and its styles)


def release_freed_memory() -> None:
    """Hand memory freed by an unloaded model back to the system. glibc keeps freed arenas for
    reuse: without this a dropped Kokoro session (~135 MB) stayed in the RSS (measured: 170 MB
    after the session was deleted, 61 MB after malloc_trim)."""
    with contextlib.suppress(OSError, AttributeError):  # not glibc: nothing to do
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def file_write_once(path: Path, write: Callable[[Path], None]) -> Path:
    """``path``, made by ``write(temporary path)`` under a name of this thread's own and renamed
    into place: engines starting together never read a half-written model file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        write(tmp)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


class LazyModel(Generic[M]):
    """Subclasses set ``name`` and implement ``_open()`` (the loaded model, kept in ``_model``)."""

    name = "model"

    def __init__(self, idle_unload_seconds: float = 600.0) -> None:
        self.idle_unload_seconds = float(idle_unload_seconds)
        self._model: M | None = None
        self._lock = threading.Lock()
        self._users = 0
        self.last_used = time.monotonic()
        self.loads = 0

    def _open(self) -> M:  # pragma: no cover - abstract
        raise NotImplementedError

    def loaded(self) -> M:
        """The model, loaded first if it is not (the app loads it before a request's chunks)."""
        model = self._model
        while model is None:  # unloaded between the load and the read: load again
            self.load()
            model = self._model
        return model

    @property
    def warm(self) -> bool:
        return self._model is not None

    def begin(self) -> None:
        """A request starts using the model (blocks idle unloading)."""
        with self._lock:
            self._users += 1
            self.last_used = time.monotonic()

    def end(self) -> None:
        with self._lock:
            self._users = max(0, self._users - 1)
            self.last_used = time.monotonic()

    def load(self) -> bool:
        """Load the model if needed; True if this call loaded it."""
        with self._lock:
            if self._model is not None:
                return False
            t0 = time.perf_counter()
            self._model = self._open()
            self.loads += 1
            # What loading parsed and copied (a graph's proto, file buffers) is freed by now, but
            # glibc keeps the pages: 7-30 MB of RSS (docs/performance.md, "Memory").
            release_freed_memory()
            log.info("%s: model loaded in %.2fs", self.name, time.perf_counter() - t0)
            return True

    def unload_if_idle(self, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            if self._model is None or self._users > 0:
                return False
            if now - self.last_used < self.idle_unload_seconds:
                return False
            self._model = None
        gc.collect()
        release_freed_memory()
        log.info("%s: model unloaded after %.0fs idle", self.name, now - self.last_used)
        return True
