"""The product's audio format (24 kHz, mono, 16-bit PCM WAV) and its waveform peaks."""

import io
import struct

import numpy as np

# The engine's wire format is the product's audio format.
from engine.protocol import BYTES_PER_SECOND, CHANNELS, SAMPLE_RATE, SAMPLE_WIDTH

# The largest size a RIFF header can state; streams whose length is not known yet announce it.
_UNKNOWN_LENGTH = 0xFFFFFFFF


def wav_header(data_bytes: int | None = None) -> bytes:
    """A 44-byte WAV header for `data_bytes` of PCM, or for a stream of unknown length."""
    data_size = _UNKNOWN_LENGTH - 36 if data_bytes is None else data_bytes
    riff_size = _UNKNOWN_LENGTH if data_bytes is None else 36 + data_bytes
    block_align = CHANNELS * SAMPLE_WIDTH
    return b"".join(
        [
            b"RIFF",
            struct.pack("<I", riff_size),
            b"WAVEfmt ",
            struct.pack("<IHHIIHH", 16, 1, CHANNELS, SAMPLE_RATE, BYTES_PER_SECOND, block_align, SAMPLE_WIDTH * 8),
            b"data",
            struct.pack("<I", data_size),
        ]
    )


def wav_from_pcm(pcm: bytes) -> bytes:
    return wav_header(len(pcm)) + pcm


def pcm_seconds(pcm_bytes: int) -> float:
    return pcm_bytes / BYTES_PER_SECOND


class PeaksBuilder:
    """Turns PCM, fed in pieces of any size, into waveform peaks: the loudest sample of each
    bucket of 1/peaks_per_second seconds, as a fraction of full scale."""

    def __init__(self, peaks_per_second: int) -> None:
        self.samples_per_peak = max(1, SAMPLE_RATE // peaks_per_second)
        self.peaks: list[float] = []
        self._pending = b""

    def feed(self, pcm: bytes) -> list[float]:
        """Adds PCM and returns the peaks it completed."""
        data = self._pending + pcm
        bucket_bytes = self.samples_per_peak * SAMPLE_WIDTH
        whole = len(data) - len(data) % bucket_bytes
        self._pending = data[whole:]
        return self._add(data[:whole])

    def finish(self) -> list[float]:
        """Closes the last partial bucket, if any, and returns its peak."""
        data, self._pending = self._pending, b""
        return self._add(data[: len(data) - len(data) % SAMPLE_WIDTH])

    def _add(self, data: bytes) -> list[float]:
        samples = np.abs(np.frombuffer(data, dtype="<i2").astype(np.int32))
        if samples.size == 0:
            return []
        padded = np.pad(samples, (0, -samples.size % self.samples_per_peak))
        loudest = padded.reshape(-1, self.samples_per_peak).max(axis=1)
        new = np.round(np.minimum(loudest / 32767, 1.0), 3).tolist()
        self.peaks.extend(new)
        return new


def flac_from_pcm(pcm: bytes) -> bytes:
    """The audio as FLAC (lossless, about half the size), through pydub and ffmpeg."""
    from pydub import AudioSegment

    segment = AudioSegment(data=pcm, sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=CHANNELS)
    buffer = io.BytesIO()
    segment.export(buffer, format="flac")
    return buffer.getvalue()
