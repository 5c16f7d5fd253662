"""The speaking rate of a request (``speed``, 0.25..4.0; 1 is the voice's own pace).

Each backend changes its own pace over the range it does well (``NATIVE_SPEEDS``: Piper's length
scale, Kokoro's speed input); the rest of a request's speed, and what the backend's pace falls
short of, is a time-stretch of each chunk's audio that keeps its pitch (FFmpeg's ``atempo``
through PyAV), so the take is as long as the speed says: 0.25 is Piper at half speed, stretched.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from engine.protocol import MAX_SPEED, MIN_SPEED

__all__ = ["MAX_SPEED", "MIN_SPEED", "speed_split", "time_stretch"]
# What each backend's own pace does well (engine/README.md, "Speed": measured with pocketsphinx);
# beyond it the words blur (faster) or drawl with broken phonemes (slower).
NATIVE_SPEEDS = (0.5, 2.0)
_STRETCH_BLOCK = 4096  # samples pushed through the filter at a time


def speed_split(speed: float, pace_exponent: float = 1.0) -> tuple[float, float]:
    """(the pace the backend is asked for, the time-stretch left): the backend's own pace within
    NATIVE_SPEEDS, and a stretch that makes up what it does not deliver. Asked for ``spoken``, a
    backend speaks ``spoken ** pace_exponent`` times as fast (Piper: 0.7, as its shortest phonemes
    and pauses do not shrink with its length scale), so the take is ``speed`` times as fast in all."""
    lo, hi = NATIVE_SPEEDS
    spoken = min(max(speed, lo), hi)
    return spoken, speed / spoken**pace_exponent


def time_stretch(x: np.ndarray, rate: int, factor: float) -> np.ndarray:
    """Mono float audio ``factor`` times as fast, its pitch kept (``atempo``s in a chain, as one
    takes 0.5..100)."""
    if abs(factor - 1.0) < 1e-6 or x.size == 0:
        return x
    import av
    from av.audio.frame import AudioFrame

    graph = av.filter.Graph()
    source = graph.add_abuffer(format="flt", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))
    steps = []
    while factor < 0.5:
        steps.append(0.5)
        factor /= 0.5
    last = source
    for step in [*steps, factor]:
        tempo = graph.add("atempo", f"{step:.6f}")
        last.link_to(tempo)
        last = tempo
    last.link_to(graph.add("abuffersink"))
    graph.configure()
    out: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                frame = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            out.append(frame.to_ndarray().reshape(-1))

    for off in range(0, x.size, _STRETCH_BLOCK):
        block = np.ascontiguousarray(x[off : off + _STRETCH_BLOCK], dtype=np.float32).reshape(1, -1)
        frame = AudioFrame.from_ndarray(block, format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, off
        graph.push(frame)
        drain()
    graph.push(None)  # the end: the filter hands over what it holds
    drain()
    y = np.concatenate(out) if out else x[:0]
    return np.clip(y, -1.0, 1.0).astype(np.float32)
