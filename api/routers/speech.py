import base64
from collections.abc import AsyncIterator
from contextlib import aclosing
from itertools import groupby

from django.conf import settings
from django.http import HttpResponse, JsonResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from ninja import Router

from api.auth import ApiRequest, bearer_speech
from api.errors import ApiError, ok
from api.idempotency import idempotent
from api.relay_reader import RelayReader, relay_encoded, relay_parts
from api.schemas import (
    SpeechRequest,
    StreamAudioEvent,
    StreamDoneEvent,
    StreamErrorEvent,
    StreamWordsEvent,
    TimestampedSpeechEnvelope,
    WordOut,
    responses,
    stream_events_schema,
)
from api.speech_start import speech_start
from billing.pricing import credits_format
from core.asyncdb import db_work
from core.audio import pcm_seconds
from core.audio_formats import AUDIO_FORMATS, AudioFormat, StreamEncoder, encode_whole
from studio.models import Generation
from studio.selectors import generation_words

router = Router(tags=["speech"])

# Refusals before any audio: no credits (402), no such voice (404), too many (429), no engine (502).
SPEECH_ERRORS = (402, 404, 429, 502)
AUDIO_RESPONSE = {
    "responses": {
        200: {
            "description": "24 kHz mono audio in the request's `response_format` (WAV by default)",
            "content": {
                f.content_type: {"schema": {"type": "string", "format": "binary"}} for f in AUDIO_FORMATS.values()
            },
        }
    }
}
VERIFICATION_HEADER = "X-Verification"
GENERATION_HEADER = "X-Generation-Id"
STREAM_EVENTS_RESPONSE = {
    "responses": {
        200: {
            "description": "JSON lines (`application/x-ndjson`), one event a line, as the take is made: `audio` "
            "pieces (base64, in `response_format`; joined, one file), after each part of the text's audio the "
            "`words` of that part, then `done` with the charge, or `error` (code and message as in the error "
            "envelope) if the take fails after the stream began (the transfer is then cut off as well).",
            "content": {"application/x-ndjson": {"schema": stream_events_schema()}},
        }
    }
}


def _speech_start(request: ApiRequest, payload: SpeechRequest, *, delivery: str) -> Generation:
    if payload.model_name != settings.TTS_MODEL_NAME:
        raise ApiError("VALIDATION_ERROR", f"Unknown model {payload.model_name!r}: use {settings.TTS_MODEL_NAME!r}.")
    return speech_start(
        user=request.auth,
        api_token=getattr(request, "api_token", None),
        source=Generation.Source.API,
        delivery=delivery,
        text=payload.text,
        voice_id=payload.voice_id,
        language=payload.language,
        verify=payload.verify,
        speed=payload.speed,
        response_format=payload.response_format,
    )


def _verification_header(verification: dict) -> str:
    """The verified take's check, e.g. ``failed; checked=3; respoken=1; failed=2``."""
    parts = [verification["status"], f"checked={verification['checked']}", f"respoken={verification['respoken']}"]
    if verification["failed"]:
        parts.append("failed=" + ",".join(str(chunk) for chunk in verification["failed"]))
    return "; ".join(parts)


async def _whole_take(request: ApiRequest, payload: SpeechRequest) -> tuple[Generation, list[bytes], dict | None]:
    """A take asked for whole: its row, its audio as the relay's pieces once it has ended (joined
    once, into the answer's body), and its check (or None)."""
    generation = await db_work(_speech_start)(request, payload, delivery=Generation.Delivery.WHOLE)
    relay = RelayReader(generation.id)
    await relay.start(until=lambda event: event.kind == "end")
    pcm = [event.pcm async for event in relay.events() if event.kind == "audio"]
    return generation, pcm, (relay.end or {}).get("verification")


def _verified(response: HttpResponseBase, verification: dict | None) -> HttpResponseBase:
    if verification is not None:
        response[VERIFICATION_HEADER] = _verification_header(verification)
    return response


@router.post(
    "/tts_non_stream",
    auth=bearer_speech,
    response=responses({}, *SPEECH_ERRORS),
    summary="Speech as a complete audio file (WAV by default)",
    openapi_extra=AUDIO_RESPONSE,
)
@idempotent
async def tts_non_stream(request: ApiRequest, payload: SpeechRequest) -> HttpResponseBase:
    generation, pcm, verification = await _whole_take(request, payload)
    audio_format = AUDIO_FORMATS[generation.response_format]
    return _verified(
        HttpResponse(encode_whole(pcm, audio_format), content_type=audio_format.content_type), verification
    )


@router.post(
    "/tts_with_timestamps",
    auth=bearer_speech,
    response=responses({200: TimestampedSpeechEnvelope}, *SPEECH_ERRORS),
    summary="Speech as a complete file, base64 in JSON, with when each word is said",
)
@idempotent
async def tts_with_timestamps(request: ApiRequest, payload: SpeechRequest) -> HttpResponseBase:
    generation, pcm, verification = await _whole_take(request, payload)
    # The row has the words once its end is relayed (job_end commits before it relays).
    words = await db_work(generation_words)(generation_id=generation.id)
    audio_format = AUDIO_FORMATS[generation.response_format]
    data = {
        "audio_base64": base64.b64encode(encode_whole(pcm, audio_format)).decode(),
        "response_format": audio_format.name,
        "seconds": round(pcm_seconds(sum(len(piece) for piece in pcm)), 3),
        "text": generation.text,
        "words": [{key: word[key] for key in WORD_FIELDS} for word in words],
    }
    return _verified(JsonResponse(ok(data)), verification)


WORD_FIELDS = ("text", "start", "end", "char_start", "char_end")


async def _stream_start(request: ApiRequest, payload: SpeechRequest) -> tuple[Generation, RelayReader, AudioFormat]:
    """A streamed take started, and its relay read up to the first audio, so that a failure before
    it keeps its own status (502, 404, ...); and the format it is answered in."""
    generation = await db_work(_speech_start)(request, payload, delivery=Generation.Delivery.PROGRESSIVE)
    relay = RelayReader(generation.id)
    await relay.start(until=lambda event: event.kind == "audio")
    return generation, relay, AUDIO_FORMATS[generation.response_format]


@router.post(
    "/tts_stream",
    auth=bearer_speech,
    response=responses({}, *SPEECH_ERRORS),
    summary="Speech streamed as it is made (WAV by default)",
    openapi_extra=AUDIO_RESPONSE,
)
@idempotent
async def tts_stream(request: ApiRequest, payload: SpeechRequest) -> HttpResponseBase:
    _, relay, audio_format = await _stream_start(request, payload)

    async def body() -> AsyncIterator[bytes]:
        # One encoder for the whole answer, so the chunks join into one file that decodes.
        async for data, _ in relay_encoded(relay, StreamEncoder(audio_format)):
            if data:
                yield data

    return StreamingHttpResponse(body(), content_type=audio_format.content_type)


@router.post(
    "/tts_stream_with_timestamps",
    auth=bearer_speech,
    response=responses({}, *SPEECH_ERRORS),
    summary="Speech streamed as it is made, as JSON lines: audio pieces and each part's words",
    openapi_extra=STREAM_EVENTS_RESPONSE,
)
@idempotent
async def tts_stream_with_timestamps(request: ApiRequest, payload: SpeechRequest) -> HttpResponseBase:
    generation, relay, audio_format = await _stream_start(request, payload)

    async def lines() -> AsyncIterator[bytes]:
        # The relay carries each chunk's words in the entry of its audio (studio.relay), so they
        # go out right after that audio's last piece.
        async with aclosing(relay_parts(relay, StreamEncoder(audio_format))) as parts:
            async for part in parts:
                if part.audio:
                    audio = base64.b64encode(part.audio).decode()
                    yield _line(StreamAudioEvent(audio_base64=audio, format=audio_format.name))
                for chunk, words in groupby(part.words, key=lambda word: word["chunk"]):
                    yield _line(StreamWordsEvent(chunk=chunk, words=[WordOut.model_validate(word) for word in words]))
        if relay.done:
            yield _line(_done_event(generation, relay.end or {}))
        else:  # relay_parts cut the transfer off; this last line says why to a reader of lines
            failure = relay.failure()
            yield _line(StreamErrorEvent(code=failure.code, message=failure.message))

    response = StreamingHttpResponse(lines(), content_type="application/x-ndjson")
    response[GENERATION_HEADER] = str(generation.id)
    return response


def _done_event(generation: Generation, end: dict) -> StreamDoneEvent:
    return StreamDoneEvent(
        generation_id=str(generation.id),
        seconds=round(end["seconds"], 3),
        credits_charged=credits_format(end["cost"]),
        text=generation.text,
        verification=end.get("verification"),
    )


def _line(event: StreamAudioEvent | StreamWordsEvent | StreamDoneEvent | StreamErrorEvent) -> bytes:
    return event.model_dump_json().encode() + b"\n"
