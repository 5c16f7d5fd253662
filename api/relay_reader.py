"""One generation's relay as the speech endpoints read it: waiting for the first event, giving up
after the engine timeout, cancelling the job when the caller leaves, telling a failure. Each
endpoint (tts_non_stream, tts_stream, tts_stream_with_timestamps, the legacy /tts, /v1/audio/speech)
only formats what it yields."""

import asyncio
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import cast

from django.conf import settings

from api.errors import ApiError
from core.asyncdb import db_work
from core.audio_formats import StreamEncoder
from core.errors import STATUS_BY_CODE
from core.stream_abort import response_abort
from studio.models import Generation
from studio.relay import RelayEvent, relay_read
from studio.services import generation_cancel

NO_ANSWER = "The speech engine did not answer in time."


class RelayReader:
    def __init__(self, generation_id: uuid.UUID) -> None:
        self.generation_id = generation_id
        self.end: dict | None = None  # the end event's data, once it came
        # relay_read is an async generator (it says AsyncIterator): it has aclose().
        self._relay = cast(
            AsyncGenerator[RelayEvent, None],
            relay_read(generation_id, timeout_seconds=settings.ENGINE_TIMEOUT_SECONDS),
        )
        self._read_ahead: list[RelayEvent] = []

    @property
    def done(self) -> bool:
        return self.end is not None and self.end.get("status") == Generation.Status.DONE

    def failure(self) -> ApiError:
        """The end as the API's error: the worker's code if it is one of ours, else 502."""
        end = self.end or {"error": NO_ANSWER}
        code = end.get("error_code") or "TTS_PROVIDER_UNAVAILABLE"
        return ApiError(code if code in STATUS_BY_CODE else "TTS_PROVIDER_UNAVAILABLE", end.get("error") or "Failed.")

    async def start(self, *, until: Callable[[RelayEvent], bool]) -> None:
        """Reads up to the first event `until` accepts, before the answer's status line goes out, so
        that a failure before it keeps its own status (502, 404, ...): raises ApiError for an end
        that failed or came first, or for no word in time. Whatever stops it, the job is cancelled
        (the caller leaving included). What was read is yielded again by events()."""
        try:
            await self._read_until(until)
        except TimeoutError:
            await self.close()
            raise ApiError("TTS_PROVIDER_UNAVAILABLE", NO_ANSWER) from None
        except BaseException:
            await self.close()
            raise

    async def _read_until(self, until: Callable[[RelayEvent], bool]) -> None:
        async for event in self._relay:
            self._read_ahead.append(event)
            if event.kind == "end":
                self.end = event.data
            if until(event) and (event.kind != "end" or self.done):
                return
            if event.kind == "end":
                raise self.failure()
        raise ApiError("TTS_PROVIDER_UNAVAILABLE", "The speech engine ended without audio.")

    async def events(self) -> AsyncGenerator[RelayEvent, None]:
        """Every event from the start, up to the end; stops quietly when no word comes in time (the
        endpoint then sees `done` false). Read it inside contextlib.aclosing, so that a caller who
        leaves closes it at once and the job is cancelled then."""
        try:
            for event in self._read_ahead:
                yield event
            if self.end is None:
                async for event in self._relay:
                    if event.kind == "end":
                        self.end = event.data
                    yield event
        except TimeoutError:
            pass
        finally:
            await self.close()

    async def close(self) -> None:
        """Stops reading; a job that has not ended is cancelled (nobody hears it any more)."""
        await self._relay.aclose()
        if self.end is None:
            await db_work(generation_cancel)(generation_id=self.generation_id)

    def abort(self) -> None:
        """Cuts the transfer: after the status line, only that tells a caller the body is not whole
        (a clean end would look like a short, finished file)."""
        if self.end is None:
            reason = "no word from the worker in time"
        else:
            reason = f"{self.end.get('status')}: {self.end.get('error_code')} {self.end.get('error')}"
        response_abort(f"generation {self.generation_id} {reason}")


@dataclass(frozen=True)
class EncodedPart:
    """A step of a take as it is made: encoded audio with the PCM behind it, or (audio empty, no
    PCM) the words of the chunks whose audio was just given, as the relay carries them."""

    audio: bytes
    pcm_bytes: int
    words: list[dict] = field(default_factory=list)


async def relay_parts(relay: RelayReader, encoder: StreamEncoder) -> AsyncGenerator[EncodedPart, None]:
    """The take's audio in the encoder's format as it is made, each chunk's words after its audio,
    then the encoder's tail once the take is done. A take that did not end well is cut off
    (relay.abort): a player hears it end early, not a file that looks whole. Read it inside
    contextlib.aclosing (RelayReader.events)."""
    async with aclosing(relay.events()) as events:
        async for event in events:
            if event.kind == "audio":
                for piece in encoder.pieces(event.pcm):
                    yield EncodedPart(await _encode(encoder, piece), len(piece))
                if event.data.get("words"):
                    yield EncodedPart(b"", 0, event.data["words"])
    if not relay.done:
        relay.abort()
        return
    yield EncodedPart(await asyncio.to_thread(encoder.finish), 0)


async def relay_encoded(relay: RelayReader, encoder: StreamEncoder) -> AsyncIterator[tuple[bytes, int]]:
    """relay_parts' audio only, each part with the PCM bytes behind it (the streams without words)."""
    async with aclosing(relay_parts(relay, encoder)) as parts:
        async for part in parts:
            if not part.words:
                yield part.audio, part.pcm_bytes


async def _encode(encoder: StreamEncoder, pcm: bytes) -> bytes:
    # A codec's work (milliseconds a chunk) off the event loop, which serves every other stream.
    if encoder.format.codec is None:
        return encoder.encode(pcm)
    return await asyncio.to_thread(encoder.encode, pcm)
