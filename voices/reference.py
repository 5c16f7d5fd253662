"""Checks of a reference recording for voice cloning, and turning it into the engine's format.

What a person uploads is untrusted: the format is told by the content, never the file name, and
ffmpeg is told it (core.audio.pcm_from_untrusted_audio: no probing, no protocol but the pipe,
bounded time and memory); decoding stops after a bounded length, so a file that claims hours of
audio cannot make it work for hours; the result is 24 kHz mono 16-bit PCM with the silence at both
ends trimmed. Whether there is enough speech in it is for the engine's speaker encoder to say.
"""

import array
import math
import operator
import struct
from dataclasses import dataclass, field

from core.audio import AudioUndecodable, pcm_from_samples, pcm_from_untrusted_audio, pcm_samples
from engine.protocol import SAMPLE_RATE

MIN_SECONDS = 5.0
MAX_SECONDS = 10.0
# A little slack for encoders that pad a frame or two.
_TOLERANCE_SECONDS = 0.25
# Decoding stops here: anything longer is refused without decoding the rest.
_DECODE_LIMIT_SECONDS = MAX_SECONDS + 5
# Frames quieter than this below the loudest are trimmed from both ends.
_TRIM_BELOW_PEAK_DB = 40
_FRAME_SECONDS = 0.02
_CLIPPED_LEVEL = 32_000
_CLIPPED_SHARE = 0.001
# One speaker, recorded in mono or stereo; more channels is a mix or surround, not a reference.
_MAX_CHANNELS = 2
# A WAV's chunks before its format chunk are looked through this far, no further.
_WAV_HEADER_SCAN_BYTES = 1 << 20


class ReferenceRejected(ValueError):
    """A recording that cannot be used; the message says why, for the person who sent it."""


@dataclass
class Reference:
    pcm: bytes  # 24 kHz mono s16le, trimmed
    seconds: float  # of the recording as sent
    speech_seconds: float  # after trimming
    source_format: str
    warnings: list[str] = field(default_factory=list)


def reference_format(data: bytes) -> str | None:
    """ "wav" or "mp3" by the file's content, or None."""
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:3] == b"ID3":
        return "mp3"
    # An MPEG audio frame header: 11 sync bits, then layer III.
    if len(data) >= 2 and data[0] == 0xFF and (data[1] & 0xE0) == 0xE0 and (data[1] & 0x06) == 0x02:
        return "mp3"
    return None


def reference_prepare(data: bytes) -> Reference:
    kind = reference_format(data)
    if kind is None:
        raise ReferenceRejected("The file is not WAV or MP3 audio (judged by its content, not its name).")
    if kind == "wav":
        _wav_channels_check(data)
    undecodable = f"The {kind.upper()} file could not be decoded: it may be damaged or truncated."
    try:
        pcm = pcm_from_untrusted_audio(data, input_format=kind, max_seconds=_DECODE_LIMIT_SECONDS)
    except AudioUndecodable:
        raise ReferenceRejected(undecodable) from None
    if not pcm:
        raise ReferenceRejected(undecodable)
    samples = pcm_samples(pcm)  # not numpy, which the web would then keep (core.audio)
    seconds = len(samples) / SAMPLE_RATE
    if seconds > MAX_SECONDS + _TOLERANCE_SECONDS:
        raise ReferenceRejected(f"The recording is longer than {MAX_SECONDS:.0f} s: trim it to 5–10 seconds.")
    if seconds < MIN_SECONDS - _TOLERANCE_SECONDS:
        raise ReferenceRejected(f"The recording is {seconds:.1f} s long: it needs 5–10 seconds of speech.")

    warnings = []
    clipped = sum(1 for s in samples if not -_CLIPPED_LEVEL < s < _CLIPPED_LEVEL)
    if clipped > _CLIPPED_SHARE * max(1, len(samples)):
        warnings.append("The recording shows clipping (it was recorded too loud); the clone may sound harsh.")
    trimmed = _trim_silence(samples)
    if not trimmed:
        raise ReferenceRejected("The recording is silent.")
    return Reference(
        pcm=pcm_from_samples(trimmed),
        seconds=round(seconds, 3),
        speech_seconds=round(len(trimmed) / SAMPLE_RATE, 3),
        source_format=kind,
        warnings=warnings,
    )


def _wav_channels_check(data: bytes) -> None:
    """Refuses a WAV whose format chunk declares no channels or more than a recording of one
    speaker has. A WAV without a readable format chunk is left to the decoder to refuse."""
    position, end = 12, min(len(data), _WAV_HEADER_SCAN_BYTES)
    while position + 8 <= end:
        chunk_id, size = data[position : position + 4], struct.unpack("<I", data[position + 4 : position + 8])[0]
        if chunk_id == b"fmt ":
            if size < 4 or position + 12 > len(data):
                return
            channels = struct.unpack("<H", data[position + 10 : position + 12])[0]
            if channels == 0:
                raise ReferenceRejected("The WAV file declares no audio channels: it is damaged.")
            if channels > _MAX_CHANNELS:
                raise ReferenceRejected(
                    f"The WAV file has {channels} channels: send a mono or stereo recording of one speaker."
                )
            return
        position += 8 + size + size % 2  # chunks are padded to an even length


def _trim_silence(samples: array.array) -> array.array:
    frame = int(SAMPLE_RATE * _FRAME_SECONDS)
    count = len(samples) // frame
    if count == 0:
        return samples[:0]
    # Each frame's RMS level in dB (the sum of squared ints is exact, as numpy's float sum was).
    level = []
    for i in range(count):
        part = samples[i * frame : (i + 1) * frame]
        level.append(20 * math.log10(math.sqrt(sum(map(operator.mul, part, part)) / frame) + 1e-9))
    loudest = max(level)
    loud = [i for i, value in enumerate(level) if value > loudest - _TRIM_BELOW_PEAK_DB]
    if loudest < -80 or not loud:  # digital silence
        return samples[:0]
    # Keep a frame of air on either side so the first and last sounds are not cut.
    start = max(0, loud[0] - 1) * frame
    end = min(count, loud[-1] + 2) * frame
    return samples[start:end]
