"""POST /v1/audio/speech: OpenAI's request, our generation. The audio leaves as it is made, in the
asked format (core.audio_formats), or as server-sent events carrying it in base64."""

import base64
import json
import math
from collections.abc import AsyncIterator

from django.http import StreamingHttpResponse
from django.http.response import HttpResponseBase
from ninja import Router

from api.auth import ApiRequest
from api.idempotency import idempotent
from api.openai.catalog import model_check
from api.openai.schemas import OpenAIErrorOut, SpeechCreate, VoiceRef
from api.relay_reader import RelayReader, relay_encoded
from api.speech_start import speech_start
from core.asyncdb import db_work
from core.audio_formats import AUDIO_FORMATS, StreamEncoder
from engine.protocol import SAMPLE_RATE
from studio.models import Generation
from studio.services import generation_response_format_clean
from voices.builtin import builtin_for_openai_voice

router = Router(tags=["openai"])

SPEECH_ERRORS = dict.fromkeys((400, 401, 402, 403, 404, 413, 429, 502), OpenAIErrorOut)
AUDIO_RESPONSE = {
    "responses": {
        200: {
            "description": "The audio in `response_format`, streamed as it is made; `text/event-stream` for sse",
            "content": {
                f.content_type: {"schema": {"type": "string", "format": "binary"}} for f in AUDIO_FORMATS.values()
            },
        }
    }
}
# Usage in the done event: we do not tokenise, so tokens are counted by OpenAI's rules of thumb:
# a text token is about 4 characters; an audio token here is 20 ms of audio (50 a second).
CHARS_PER_TOKEN = 4
AUDIO_TOKENS_PER_SECOND = 50


def voice_ref(voice: str | VoiceRef) -> str:
    """What generation_create takes: an OpenAI name as its built-in's voice_id, else as sent."""
    ref = voice.id if isinstance(voice, VoiceRef) else voice
    builtin = builtin_for_openai_voice(ref)
    return str(builtin.voice_id) if builtin else ref


def _speech_start(request: ApiRequest, payload: SpeechCreate) -> Generation:
    model_check(payload.model)
    # Checked before the text is, by the one check every generation has.
    generation_response_format_clean(payload.response_format)
    return speech_start(
        user=request.auth,
        api_token=getattr(request, "api_token", None),
        source=Generation.Source.OPENAI,
        delivery=Generation.Delivery.PROGRESSIVE,
        text=payload.input,
        voice_id=voice_ref(payload.voice),
        speed=float(payload.speed),
        response_format=payload.response_format,
        instructions=payload.instructions,
    )


async def _audio_body(relay: RelayReader, encoder: StreamEncoder) -> AsyncIterator[bytes]:
    async for data, _ in relay_encoded(relay, encoder):
        if data:
            yield data


def sse_event(data: dict) -> bytes:
    return f"data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def speech_usage(*, text: str, pcm_bytes: int) -> dict[str, int]:
    seconds = pcm_bytes / (2 * SAMPLE_RATE)
    input_tokens = math.ceil(len(text) / CHARS_PER_TOKEN)
    output_tokens = math.ceil(seconds * AUDIO_TOKENS_PER_SECOND)
    return {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": input_tokens + output_tokens}


async def _sse_body(relay: RelayReader, encoder: StreamEncoder, text: str) -> AsyncIterator[bytes]:
    pcm_bytes = 0
    async for data, pcm_length in relay_encoded(relay, encoder):
        pcm_bytes += pcm_length
        if data:
            yield sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode()})
    if relay.done:
        yield sse_event({"type": "speech.audio.done", "usage": speech_usage(text=text, pcm_bytes=pcm_bytes)})


@router.post(
    "/audio/speech",
    response={200: None, **SPEECH_ERRORS},
    summary="Speech from text, as OpenAI's POST /v1/audio/speech",
    openapi_extra=AUDIO_RESPONSE,
)
@idempotent
async def audio_speech(request: ApiRequest, payload: SpeechCreate) -> HttpResponseBase:
    generation = await db_work(_speech_start)(request, payload)
    relay = RelayReader(generation.id)
    # Wait for the first audio, so that a failure before it keeps its own status (402, 404, 502...).
    await relay.start(until=lambda event: event.kind == "audio")
    audio_format = AUDIO_FORMATS[payload.response_format]
    encoder = StreamEncoder(audio_format)  # one a request: a codec keeps state between chunks
    if payload.stream_format == "sse":
        response = StreamingHttpResponse(_sse_body(relay, encoder, generation.text), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
    else:
        response = StreamingHttpResponse(_audio_body(relay, encoder), content_type=audio_format.content_type)
    response["X-Generation-Id"] = str(generation.id)
    return response
