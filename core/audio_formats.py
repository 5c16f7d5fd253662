"""The audio formats a generation can be delivered in, encoded while it is made.

The product's own format is 24 kHz mono 16-bit PCM (studio/audio.py). ``StreamEncoder`` turns that
PCM, chunk by chunk as the engine produces it, into a container that decodes while it grows: MP3
frames, Ogg Opus, ADTS AAC, FLAC, WAV with the unknown-length header, or the raw PCM. PyAV (FFmpeg's
libraries in-process) encodes, so no process is started per request; the muxer writes to a sink
that cannot seek, so nothing already sent is ever rewritten.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from core.audio import wav_header
from engine.protocol import SAMPLE_RATE


@dataclass(frozen=True)
class AudioFormat:
    name: str
    content_type: str
    extension: str
    container: str | None = None  # None: written here, without a codec (wav, pcm)
    codec: str | None = None
    bit_rate: int | None = None
    options: tuple[tuple[str, str], ...] = ()


AUDIO_FORMATS = {
    f.name: f
    for f in (
        AudioFormat("wav", "audio/wav", "wav"),
        AudioFormat("pcm", "audio/pcm", "pcm"),
        AudioFormat("mp3", "audio/mpeg", "mp3", "mp3", "libmp3lame", 64_000),
        # Ogg pages are flushed every 20 ms of audio instead of every second, so the first page
        # leaves with the first chunk.
        AudioFormat("opus", "audio/ogg", "opus", "ogg", "libopus", 32_000, (("page_duration", "20000"),)),
        AudioFormat("aac", "audio/aac", "aac", "adts", "aac", 64_000),
        AudioFormat("flac", "audio/flac", "flac", "flac", "flac"),
    )
}


class _Sink:
    """What the muxer writes to: collected until taken, never seekable."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def seekable(self) -> bool:
        return False

    def take(self) -> bytes:
        out = b"".join(self.parts)
        self.parts.clear()
        return out


# A codec is fed a chunk in pieces of this much audio (200 ms), so the chunk's first bytes leave
# once one piece is encoded (~2 ms here) instead of the whole chunk (10-16 ms for 2 s of speech).
ENCODE_PIECE_BYTES = SAMPLE_RATE * 2 // 5


class StreamEncoder:
    """PCM in, the format's bytes out, as soon as the encoder has them.

    ``encode(pcm)`` returns the bytes ready after this PCM (possibly none yet: encoders look ahead
    a frame or two); ``finish()`` returns the rest. Feed whole samples (an even number of bytes).
    """

    def __init__(self, audio_format: AudioFormat) -> None:
        self.format = audio_format
        self._started = False
        self._samples = 0
        if audio_format.container is None or audio_format.codec is None:
            return
        import av  # PyAV maps FFmpeg's libraries (~22 MiB): only once a coded format is asked for

        self._sink = _Sink()
        self._container = av.open(
            self._sink, mode="w", format=audio_format.container, options=dict(audio_format.options)
        )
        stream = self._container.add_stream(audio_format.codec, rate=SAMPLE_RATE, layout="mono")
        if not isinstance(stream, av.AudioStream):
            raise TypeError(f"{audio_format.codec} is not an audio codec")
        if audio_format.bit_rate:
            stream.bit_rate = audio_format.bit_rate
        self._stream = stream

    def pieces(self, pcm: bytes) -> Iterator[bytes]:
        """``pcm`` cut as this encoder is best fed while a caller waits (see ENCODE_PIECE_BYTES);
        the formats without a codec take it whole."""
        if self.format.codec is None:
            yield pcm
            return
        for start in range(0, len(pcm), ENCODE_PIECE_BYTES):
            yield pcm[start : start + ENCODE_PIECE_BYTES]

    def encode(self, pcm: bytes) -> bytes:
        if self.format.container is None:
            return self._plain(pcm)
        if not pcm:
            return b""
        import av

        # The PCM is the frame's one plane as it is (s16 mono, little-endian), so no numpy array
        # is needed: the web would keep numpy (~20 MiB) after its first encoded request.
        samples = len(pcm) // 2
        frame = av.AudioFrame(format="s16", layout="mono", samples=samples)
        frame.planes[0].update(pcm)
        frame.sample_rate = SAMPLE_RATE
        frame.pts = self._samples
        self._samples += samples
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        return self._sink.take()

    def finish(self) -> bytes:
        if self.format.container is None:
            return self._plain(b"")
        for packet in self._stream.encode(None):
            self._container.mux(packet)
        self._container.close()
        return self._sink.take()

    def _plain(self, pcm: bytes) -> bytes:
        if self.format.name == "wav" and not self._started:
            self._started = True
            return wav_header(None) + pcm
        return pcm


def encode_whole(pcm: bytes | Sequence[bytes], audio_format: AudioFormat) -> bytes:
    """A finished take in ``audio_format`` (a download, encoded once), from its PCM whole or in the
    pieces it came in: a WAV is then its header and the pieces in one copy."""
    pieces = [pcm] if isinstance(pcm, bytes) else pcm
    if audio_format.name == "wav":
        return b"".join([wav_header(sum(len(piece) for piece in pieces)), *pieces])
    encoder = StreamEncoder(audio_format)
    return encoder.encode(b"".join(pieces)) + encoder.finish()
