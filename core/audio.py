"""The product's audio format (24 kHz, mono, 16-bit PCM WAV), its waveform peaks, and decoding
untrusted audio into it."""

import array
import io
import resource
import struct
import subprocess
import sys
import warnings
import wave

with warnings.catch_warnings():
    # The C module pydub itself reads samples with: deprecated in 3.11, kept on 3.13 by audioop-lts.
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

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


def pcm_from_wav(wav: bytes) -> bytes:
    """The PCM samples of a WAV file of the product's format (a stored take)."""
    with wave.open(io.BytesIO(wav)) as reader:
        return reader.readframes(reader.getnframes())


def pcm_seconds(pcm_bytes: int) -> float:
    return pcm_bytes / BYTES_PER_SECOND


# The web and the workers read samples with the standard library, not numpy: numpy would add
# ~20 MiB to every such process (docs/performance.md, "Memory (issue 18)").
def pcm_samples(pcm: bytes) -> array.array:
    """The samples of little-endian 16-bit PCM, as an array of ints."""
    samples = array.array("h", pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    return samples


def pcm_from_samples(samples: array.array) -> bytes:
    """The inverse of ``pcm_samples``."""
    if sys.byteorder == "big":
        samples = array.array("h", samples)
        samples.byteswap()
    return samples.tobytes()


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
        # audioop's max is the loudest sample in C: 0.04 ms of worker CPU per audio second, where a
        # loop over the samples in Python took 1.2 (the worker's largest cost per chunk, profiled).
        # The rounding is numpy's round(x, 3), which this was: x * 1000 to the nearest even, / 1000.
        if sys.byteorder == "big":
            data = audioop.byteswap(data, SAMPLE_WIDTH)
        view, step = memoryview(data), self.samples_per_peak * SAMPLE_WIDTH
        new = [
            round(min(audioop.max(view[start : start + step], SAMPLE_WIDTH) / 32767, 1.0) * 1000) / 1000
            for start in range(0, len(data), step)
        ]
        self.peaks.extend(new)
        return new


def flac_from_pcm(pcm: bytes) -> bytes:
    """The audio as FLAC (lossless, about half the size), through pydub and ffmpeg."""
    from pydub import AudioSegment

    segment = AudioSegment(data=pcm, sample_width=SAMPLE_WIDTH, frame_rate=SAMPLE_RATE, channels=CHANNELS)
    buffer = io.BytesIO()
    segment.export(buffer, format="flac")
    return buffer.getvalue()


# ---------- decoding untrusted audio ----------

# What ffmpeg may do with bytes a user sent: one demuxer (told, never guessed), the pipe as its only
# protocol (a playlist inside the bytes cannot make it fetch a URL), these decoders only, and bounded
# time, CPU and memory.
_DECODABLE_FORMATS = {"wav", "mp3"}
_DECODERS = "pcm_u8,pcm_s16le,pcm_s24le,pcm_s32le,pcm_f32le,pcm_f64le,pcm_alaw,pcm_mulaw,mp3float,mp3"
DECODE_TIMEOUT_SECONDS = 20.0
_DECODE_CPU_SECONDS = 10
# ffmpeg maps its many codec libraries at start (about 300 MB of address space); this leaves room
# for decoding 10 MB, not for a file that makes it allocate without end.
_DECODE_ADDRESS_SPACE_BYTES = 768 * 1024 * 1024


class AudioUndecodable(ValueError):
    """ffmpeg could not decode the bytes, or was stopped for taking too long."""


def _decoder_limits() -> None:
    # Runs in the child between fork and exec: only setrlimit calls, nothing that takes a lock.
    resource.setrlimit(resource.RLIMIT_CPU, (_DECODE_CPU_SECONDS, _DECODE_CPU_SECONDS + 1))
    resource.setrlimit(resource.RLIMIT_AS, (_DECODE_ADDRESS_SPACE_BYTES, _DECODE_ADDRESS_SPACE_BYTES))
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))  # it writes to pipes only, never a file


def pcm_from_untrusted_audio(data: bytes, *, input_format: str, max_seconds: float) -> bytes:
    """Audio bytes from a user, as the product's PCM (24 kHz mono s16le, channels mixed down), of at
    most `max_seconds`. ffmpeg reads them from stdin as `input_format` ("wav" or "mp3", from the
    bytes' content) and is killed if it takes longer than DECODE_TIMEOUT_SECONDS."""
    if input_format not in _DECODABLE_FORMATS:
        raise ValueError(f"not a format to decode untrusted audio as: {input_format!r}")
    # fmt: off
    command = [
        # Only fatal messages: a garbage file makes an error line per frame, megabytes of them.
        "ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "fatal", "-threads", "1",
        "-protocol_whitelist", "pipe", "-codec_whitelist", _DECODERS,
        "-f", input_format, "-i", "pipe:0",
        "-map", "0:a:0", "-t", f"{max_seconds:.3f}",
        "-ac", str(CHANNELS), "-ar", str(SAMPLE_RATE), "-c:a", "pcm_s16le", "-f", "s16le", "pipe:1",
    ]
    # fmt: on
    try:
        decoded = subprocess.run(
            command,
            input=data,
            capture_output=True,
            timeout=DECODE_TIMEOUT_SECONDS,
            preexec_fn=_decoder_limits,
            check=False,
        )
    except subprocess.TimeoutExpired:  # run() has killed it
        raise AudioUndecodable("decoding took too long") from None
    if decoded.returncode != 0:
        reason = decoded.stderr.decode(errors="replace").strip().splitlines()
        raise AudioUndecodable(reason[-1] if reason else f"ffmpeg exited with {decoded.returncode}")
    pcm = decoded.stdout
    return pcm[: len(pcm) - len(pcm) % SAMPLE_WIDTH]
