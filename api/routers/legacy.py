"""The legacy API: POST /api/v1/tts with the token in the body, progress as JSON lines and the
audio as base64 FLAC in the last one (../shared/seeds/001_*)."""

import base64
import json
from collections.abc import AsyncIterator
from contextlib import aclosing

from asgiref.sync import sync_to_async
from django.http import HttpRequest, StreamingHttpResponse
from django.http.response import HttpResponseBase
from ninja import Router

from accounts.models import Scope, User
from accounts.services import token_authenticate
from api.auth import scope_require
from api.errors import ApiError
from api.idempotency import idempotent
from api.relay_reader import RelayReader
from api.routers.speech import SPEECH_ERRORS
from api.schemas import LegacySpeechRequest, responses
from api.speech_start import speech_start
from core.asyncdb import db_work
from core.audio import flac_from_pcm, pcm_seconds
from core.errors import error_envelope
from studio.models import Generation
from voices.models import Voice
from voices.selectors import voice_get_by_name

router = Router(tags=["legacy"])

LEGACY_WARMING_UP = "Warming up TTS model"
LEGACY_GENERATING = "Generating linguistic features"
LINES_RESPONSE = {
    "responses": {
        200: {
            "description": "JSON lines: progress, then the audio (or, on a failure, the error envelope)",
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    }
}


def _legacy_start(payload: LegacySpeechRequest) -> Generation:
    api_token = token_authenticate(payload.token) if payload.token else None
    if api_token is None:
        raise ApiError("UNAUTHORIZED", "Missing or invalid token.")
    scope_require(api_token, Scope.SPEECH)
    kinds = {"default": Voice.Kind.BUILTIN, "custom": Voice.Kind.CLONE}
    if len(payload.speaker) != 1 or next(iter(payload.speaker)) not in kinds:
        raise ApiError("VALIDATION_ERROR", 'speaker must be {"default": NAME} or {"custom": NAME}.')
    kind, name = next(iter(payload.speaker.items()))
    voice = voice_get_by_name(api_token.user, name, kind=kinds[kind])
    if voice is None:
        raise ApiError("NOT_FOUND", f"No {kind} speaker named {name!r}.")
    return speech_start(
        user=api_token.user,
        api_token=api_token,
        source=Generation.Source.LEGACY_API,
        delivery=Generation.Delivery.WHOLE,
        text=payload.text,
        voice_id=str(voice.id),
        language=payload.language,
        temperature=float(payload.temperature),
    )


def _legacy_user(payload: LegacySpeechRequest) -> User | None:
    """The account of the body's token: its Idempotency-Key's."""
    api_token = token_authenticate(payload.token) if payload.token else None
    return api_token.user if api_token else None


def _legacy_status(progress: dict, seconds: float) -> dict:
    if progress.get("stage") == "warming_up":
        return {"generation_status": LEGACY_WARMING_UP}
    return {
        "generation_status": LEGACY_GENERATING,
        "text_chunks": progress.get("chunks", 0),
        "current_text_chunk": progress.get("chunk", 0),
        "generated_seconds": round(seconds, 2),
    }


def _json_line(data: dict) -> bytes:
    return (json.dumps(data) + "\n").encode()


@router.post(
    "/tts",
    auth=None,
    response=responses({}, *SPEECH_ERRORS),
    summary="Legacy: speech with progress as JSON lines, audio as base64 FLAC",
    openapi_extra=LINES_RESPONSE,
)
@idempotent(user_of=lambda request, payload: _legacy_user(payload))
async def legacy_tts(request: HttpRequest, payload: LegacySpeechRequest) -> HttpResponseBase:
    generation = await db_work(_legacy_start)(payload)
    relay = RelayReader(generation.id)
    # As with tts_stream, a failure before the first event keeps its own status.
    await relay.start(until=lambda event: True)

    async def lines() -> AsyncIterator[bytes]:
        pcm = bytearray()
        async with aclosing(relay.events()) as events:
            async for event in events:
                if event.kind == "audio":
                    pcm.extend(event.pcm)
                elif event.kind == "progress":
                    yield _json_line(_legacy_status(event.data, pcm_seconds(len(pcm))))
        if relay.end is not None and relay.done:
            flac = await sync_to_async(flac_from_pcm)(bytes(pcm))
            data = {"audio_bytes": base64.b64encode(flac).decode(), "duration": round(relay.end["seconds"], 3)}
            yield _json_line({"data": {**data, "request_finished": True}})
        else:
            # The legacy format has no error event: its readers wait for `request_finished`. A last
            # line in the API's envelope tells a reader of lines why; the cut-off transfer after it
            # tells every HTTP client (which would otherwise see a clean end) that this failed.
            failure = relay.failure()
            yield _json_line(error_envelope(failure.code, failure.message))
            relay.abort()

    return StreamingHttpResponse(lines(), content_type="application/x-ndjson")
