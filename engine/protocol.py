"""The engine's wire format, shared by the server (``engine.app``) and the
client (``engine.client``). See ``engine/README.md``.

A streamed synthesis answer (``Content-Type: application/vnd.outeai.engine-stream``)
is a sequence of frames::

    +--------+----------------------------+-----------------+
    | type   | payload length             | payload         |
    | 1 byte | 4 bytes, unsigned, big-end | length bytes    |
    +--------+----------------------------+-----------------+

Frame types:

- ``P`` progress, UTF-8 JSON: ``{"stage": "warming_up"}`` or
  ``{"stage": "generating", "chunk": i, "chunks": n, "seconds": s}``
- ``A`` audio: raw PCM, signed 16-bit little-endian, 24,000 Hz, mono
  (always an even number of bytes)
- ``E`` error, UTF-8 JSON ``{"code": str, "message": str}``; the stream ends
- ``V`` verified (only with ``"verify": true``), UTF-8 JSON, after chunk ``i``'s audio (a chunk
  too short to be heard alone: after the next chunk's, with its check; engine/verify.py):
  ``{"chunk": i, "checked": bool, "word_error": float | null, "respoken": bool, "passed": bool | null}``
- ``W`` words (from a backend that times them: Piper), UTF-8 JSON, after chunk ``i``'s audio (and
  its ``V``): ``{"chunk": i, "words": [{"text", "start", "end", "char_start", "char_end"}]}``, the
  chunk's words in order, ``start``/``end`` seconds from the start of the take's audio,
  ``char_start``/``char_end`` offsets into the request's ``text`` (engine/timing.py)
- ``D`` done, UTF-8 JSON ``{"seconds": float, "truncated": bool}``; the stream ends. With
  ``"verify": true`` it also carries ``"verification"`` (``verification_summary``)

Readers ignore frame types they do not know (forward compatibility).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass

CONTENT_TYPE = "application/vnd.outeai.engine-stream"
SAMPLE_RATE = 24000
SAMPLE_WIDTH = 2  # bytes, signed little-endian
CHANNELS = 1
BYTES_PER_SECOND = SAMPLE_RATE * SAMPLE_WIDTH * CHANNELS
# The speaking rates a request may ask (`speed`, and a script piece's `rate` times it).
MIN_SPEED, MAX_SPEED = 0.25, 4.0

PROGRESS = b"P"
AUDIO = b"A"
ERROR = b"E"
DONE = b"D"
VERIFIED = b"V"
WORDS = b"W"

HEADER = struct.Struct(">cI")
MAX_PAYLOAD = 16 * 1024 * 1024  # a decoder refuses anything bigger (garbage guard)

STAGE_WARMING_UP = "warming_up"
STAGE_GENERATING = "generating"


class ProtocolError(ValueError):
    """The byte stream is not a valid frame stream."""


# --- typed events ---------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    stage: str
    chunk: int | None = None
    chunks: int | None = None
    seconds: float | None = None


@dataclass(frozen=True)
class Audio:
    pcm: bytes

    @property
    def seconds(self) -> float:
        return len(self.pcm) / BYTES_PER_SECOND


@dataclass(frozen=True)
class Verified:
    """A chunk heard back (engine/verify.py): ``checked`` False for a language that cannot be;
    ``respoken``: the chunk failed and was spoken again, the take with the lower word error kept;
    ``passed``: the kept take's word error is within the bar (None when unchecked)."""

    chunk: int
    checked: bool
    word_error: float | None = None
    respoken: bool = False
    passed: bool | None = None


@dataclass(frozen=True)
class Word:
    """A word of the text and when it is said: ``start``/``end`` in seconds of the take,
    ``char_start``/``char_end`` its span in the text (a chunk's, then the request's); made
    by engine/timing.py."""

    text: str
    start: float
    end: float
    char_start: int
    char_end: int

    def to_json(self) -> dict:
        return {
            "text": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "char_start": self.char_start,
            "char_end": self.char_end,
        }

    @classmethod
    def from_json(cls, o: Mapping) -> Word:
        return cls(str(o["text"]), float(o["start"]), float(o["end"]), int(o["char_start"]), int(o["char_end"]))


@dataclass(frozen=True)
class Words:
    """When each word of chunk ``chunk`` is said, in the take's time (engine/timing.py)."""

    chunk: int
    words: tuple[Word, ...]


@dataclass(frozen=True)
class Done:
    seconds: float
    truncated: bool
    # With verify: {"status", "checked", "unchecked", "respoken", "failed": [chunk numbers]}
    verification: dict | None = None


@dataclass(frozen=True)
class Error:
    code: str
    message: str


Event = Progress | Audio | Verified | Words | Done | Error


def verification_summary(verified) -> dict:
    """What a take records of its check, from its chunks' ``Verified`` (one per chunk): the engine
    sends it in ``Done`` and a worker that resumed on another engine makes it from all of them.
    ``status``: "unchecked" (nothing could be checked: not English), "failed" (some chunk still did
    not match after its retake) or "passed"."""
    verified = list(verified)
    checked = sum(1 for v in verified if v.checked)
    failed = sorted(v.chunk for v in verified if v.checked and v.passed is False)
    return {
        "status": "unchecked" if not checked else "failed" if failed else "passed",
        "checked": checked,
        "unchecked": len(verified) - checked,
        "respoken": sum(1 for v in verified if v.respoken),
        "failed": failed,
    }


# --- encoding ---------------------------------------------------------------


def encode_frame(ftype: bytes, payload: bytes) -> bytes:
    if len(ftype) != 1:
        raise ValueError("frame type must be one byte")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError("payload too large; split it")
    return HEADER.pack(ftype, len(payload)) + payload


def _json(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode_event(event: Event) -> bytes:
    if isinstance(event, Audio):
        if len(event.pcm) % 2:
            raise ValueError("audio payload must be an even number of bytes")
        return encode_frame(AUDIO, bytes(event.pcm))
    if isinstance(event, Progress):
        obj: dict = {"stage": event.stage}
        if event.stage == STAGE_GENERATING:
            obj.update(chunk=event.chunk, chunks=event.chunks, seconds=round(float(event.seconds or 0.0), 3))
        return encode_frame(PROGRESS, _json(obj))
    if isinstance(event, Verified):
        word_error = None if event.word_error is None else round(float(event.word_error), 3)
        obj = {"chunk": event.chunk, "checked": event.checked, "word_error": word_error}
        obj.update(respoken=event.respoken, passed=event.passed)
        return encode_frame(VERIFIED, _json(obj))
    if isinstance(event, Words):
        return encode_frame(WORDS, _json({"chunk": event.chunk, "words": [w.to_json() for w in event.words]}))
    if isinstance(event, Done):
        obj = {"seconds": round(float(event.seconds), 3), "truncated": bool(event.truncated)}
        if event.verification is not None:
            obj["verification"] = event.verification
        return encode_frame(DONE, _json(obj))
    if isinstance(event, Error):
        return encode_frame(ERROR, _json({"code": event.code, "message": event.message}))
    raise TypeError(f"not an event: {event!r}")


def warming_up() -> bytes:
    return encode_event(Progress(STAGE_WARMING_UP))


def generating(chunk: int, chunks: int, seconds: float) -> bytes:
    return encode_event(Progress(STAGE_GENERATING, chunk, chunks, seconds))


def audio(pcm: bytes) -> bytes:
    return encode_event(Audio(pcm))


def verified(chunk: int, checked: bool, word_error: float | None, respoken: bool, passed: bool | None) -> bytes:
    return encode_event(Verified(chunk, checked, word_error, respoken, passed))


def done(seconds: float, truncated: bool, verification: dict | None = None) -> bytes:
    return encode_event(Done(seconds, truncated, verification))


def error(code: str, message: str) -> bytes:
    return encode_event(Error(code, message))


# --- decoding ---------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    type: bytes
    payload: bytes

    def json(self):
        return json.loads(self.payload.decode("utf-8"))


class FrameDecoder:
    """Incremental decoder: ``feed(bytes)`` returns the frames completed so far."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames: list[Frame] = []
        while len(self._buf) >= HEADER.size:
            ftype, length = HEADER.unpack_from(self._buf, 0)
            if length > MAX_PAYLOAD:
                raise ProtocolError(f"frame of {length} bytes exceeds the {MAX_PAYLOAD}-byte limit")
            end = HEADER.size + length
            if len(self._buf) < end:
                break
            frames.append(Frame(bytes(ftype), bytes(self._buf[HEADER.size : end])))
            del self._buf[:end]
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame still buffered."""
        return len(self._buf)

    def close(self) -> None:
        """Call at end of stream: raises if a frame was cut off."""
        if self._buf:
            raise ProtocolError(f"stream ended inside a frame ({len(self._buf)} bytes pending)")


def frame_to_event(frame: Frame) -> Event | None:
    """Typed event for a known frame, ``None`` for an unknown type."""
    try:
        if frame.type == AUDIO:
            if len(frame.payload) % 2:
                raise ProtocolError("odd-length audio frame")
            return Audio(frame.payload)
        if frame.type == PROGRESS:
            o = frame.json()
            return Progress(str(o["stage"]), o.get("chunk"), o.get("chunks"), o.get("seconds"))
        if frame.type == VERIFIED:
            o = frame.json()
            word_error = o.get("word_error")
            passed = o.get("passed")
            return Verified(
                int(o["chunk"]),
                bool(o["checked"]),
                None if word_error is None else float(word_error),
                bool(o.get("respoken", False)),
                None if passed is None else bool(passed),
            )
        if frame.type == WORDS:
            o = frame.json()
            return Words(int(o["chunk"]), tuple(Word.from_json(w) for w in o["words"]))
        if frame.type == DONE:
            o = frame.json()
            verification = o.get("verification")
            return Done(
                float(o["seconds"]), bool(o["truncated"]), verification if isinstance(verification, dict) else None
            )
        if frame.type == ERROR:
            o = frame.json()
            return Error(str(o.get("code", "error")), str(o.get("message", "")))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, ProtocolError):
            raise
        raise ProtocolError(f"malformed {frame.type!r} frame: {exc}") from exc
    return None


def decode_events(data: bytes) -> list[Event]:
    """Decode a complete body (tests, tools)."""
    dec = FrameDecoder()
    events = [e for e in (frame_to_event(f) for f in dec.feed(data)) if e is not None]
    dec.close()
    return events
