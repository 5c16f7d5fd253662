"""REST API v1, as the published docs describe it (../shared/seeds/), and the legacy /tts."""

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.multipartparser import MultiPartParserError
from ninja import NinjaAPI, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError

from accounts.models import Scope
from accounts.selectors import tokens_active
from accounts.services import TokenRefused, token_authenticate, token_create, token_revoke
from api import schemas
from api.auth import bearer_all_scopes, bearer_speech, bearer_tokens_or_session, bearer_voices, scope_require
from api.errors import CODE_BY_STATUS, STATUS_BY_CODE, ApiError, error_response, ok
from core.asyncdb import db_work
from core.audio import flac_from_pcm, pcm_seconds, wav_from_pcm, wav_header
from core.engines import engines_health
from core.stream_abort import response_abort
from core.text import name_clean
from studio.models import Generation
from studio.relay import RelayEvent, relay_read
from studio.services import GenerationRefused, generation_cancel, generation_create
from voices.models import Voice
from voices.selectors import clones_for, voice_fit_state, voice_get_by_name, voice_languages, voices_available
from voices.services import CloneRefused, clone_create, clone_delete

logger = logging.getLogger(__name__)

# The API's version; the Python SDK in sdk/ carries the same one.
API_VERSION = "2.2.0"

api = NinjaAPI(
    title="OuteAI API",
    version=API_VERSION,
    description="Text-to-speech: voices, speech as a whole WAV or a stream, voice clones and API tokens. "
    "Authenticate with `Authorization: Bearer oute_…`. Errors share one envelope: "
    '`{"success": false, "code": "...", "message": "..."}`.',
    # Each endpoint names its scope; one that names none takes only a token with every scope.
    auth=bearer_all_scopes,
    urls_namespace="api-v1",
    docs_url="/docs",
    openapi_url="/openapi.json",
)

AUDIO_RESPONSE = {
    "responses": {
        200: {"description": "24 kHz mono 16-bit WAV", "content": {"audio/wav": {"schema": {"type": "string"}}}}
    }
}


# ---------- errors: every one in the envelope ----------


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, error: ApiError) -> HttpResponse:
    return error_response(error.code, error.message, headers=error.headers)


@api.exception_handler(GenerationRefused)
def _generation_refused(request: HttpRequest, refused: GenerationRefused) -> HttpResponse:
    headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
    return error_response(refused.code, refused.message, headers=headers)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, error: ValidationError) -> HttpResponse:
    return error_response("VALIDATION_ERROR", _validation_message(error.errors))


@api.exception_handler(AuthenticationError)
def _authentication_error(request: HttpRequest, error: AuthenticationError) -> HttpResponse:
    return error_response("UNAUTHORIZED", "Missing or invalid API token. Send `Authorization: Bearer oute_…`.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, error: HttpError) -> HttpResponse:
    code = CODE_BY_STATUS.get(error.status_code, "VALIDATION_ERROR")
    if error.status_code == 403:
        # The only 403 here is a browser session without its CSRF token.
        return error_response("UNAUTHORIZED", "CSRF check failed: send the X-CSRFToken header with the session.")
    return error_response(code, str(error))


@api.exception_handler(MultiPartParserError)
@api.exception_handler(SuspiciousOperation)
@api.exception_handler(BadRequest)
def _malformed(request: HttpRequest, error: Exception) -> HttpResponse:
    return error_response("VALIDATION_ERROR", "The request is malformed: send JSON, or a well-formed multipart form.")


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, error: RequestDataTooBig) -> HttpResponse:
    return error_response("PAYLOAD_TOO_LARGE", "The request body is too large.")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, error: Exception) -> HttpResponse:
    logger.error("unexpected error in %s %s", request.method, request.path, exc_info=error)
    return error_response("INTERNAL_ERROR", "Something went wrong on our side. It has been logged.")


def _validation_message(errors: list[dict]) -> str:
    parts = []
    for error in errors:
        if error.get("type") in {"json_invalid", "model_attributes_type"} or "JSON" in str(error.get("msg", "")):
            return "The request body is not valid JSON object."
        location = ".".join(str(part) for part in error.get("loc", ()) if part not in {"body", "payload"})
        parts.append(f"{location}: {error.get('msg', 'invalid')}" if location else str(error.get("msg", "invalid")))
    return "; ".join(parts) or "The request is not valid."


# ---------- health and voices ----------


@api.get("/health", auth=None, summary="Service health")
async def health(request: HttpRequest) -> dict:
    # Read from what the process last heard (no request waits on an engine); in a thread all the
    # same, as a process's first call waits for the first answers.
    engine = await asyncio.to_thread(engines_health)
    return ok({"status": "ok", "api_version": API_VERSION, "engine": engine})


def _voice(voice: Voice) -> dict:
    return {
        "voice_id": str(voice.id),
        "speaker_name": voice.speaker_name,
        "is_clone": voice.is_clone,
        "gender": voice.gender,
        "language": voice.language,
        # What it may read: its engine's languages (an English Kokoro voice reads Japanese too).
        "languages": list(voice_languages(voice)),
        "description": voice.description,
    }


@api.get("/voices", auth=bearer_voices, summary="Voices available to your account")
def voices(request: HttpRequest) -> dict:
    return ok({"voices": [_voice(voice) for voice in voices_available(request.auth)]})


# ---------- speech ----------


def _speech_start(request: HttpRequest, payload: schemas.SpeechRequest, *, delivery: str) -> Generation:
    if payload.model_name != settings.TTS_MODEL_NAME:
        raise ApiError("VALIDATION_ERROR", f"Unknown model {payload.model_name!r}: use {settings.TTS_MODEL_NAME!r}.")
    if payload.response_format != "wav":
        raise ApiError("VALIDATION_ERROR", "response_format must be 'wav'.")
    return generation_create(
        user=request.auth,
        text=payload.text,
        voice_id=payload.voice_id,
        source=Generation.Source.API,
        delivery=delivery,
        api_token=getattr(request, "api_token", None),
        language=payload.language,
        verify=payload.verify,
    )


def _failure(end: dict) -> ApiError:
    code = end.get("error_code") or "TTS_PROVIDER_UNAVAILABLE"
    return ApiError(code if code in STATUS_BY_CODE else "TTS_PROVIDER_UNAVAILABLE", end.get("error") or "Failed.")


async def _cancel(generation: Generation) -> None:
    await db_work(generation_cancel)(generation_id=generation.id)


def _events(generation: Generation) -> AsyncIterator[RelayEvent]:
    return relay_read(generation.id, timeout_seconds=settings.ENGINE_TIMEOUT_SECONDS)


@api.post("/tts_non_stream", auth=bearer_speech, summary="Speech as a complete WAV file", openapi_extra=AUDIO_RESPONSE)
async def tts_non_stream(request: HttpRequest, payload: schemas.SpeechRequest) -> HttpResponse:
    generation = await db_work(_speech_start)(request, payload, delivery=Generation.Delivery.WHOLE)
    pcm = bytearray()
    end: dict = {}
    try:
        async for event in _events(generation):
            if event.kind == "audio":
                pcm.extend(event.pcm)
            elif event.kind == "end":
                end = event.data
    except (asyncio.CancelledError, TimeoutError) as stopped:
        await _cancel(generation)
        if isinstance(stopped, asyncio.CancelledError):
            raise
        raise ApiError("TTS_PROVIDER_UNAVAILABLE", "The speech engine did not answer in time.") from None
    if end.get("status") != Generation.Status.DONE:
        raise _failure(end)
    response = HttpResponse(wav_from_pcm(bytes(pcm)), content_type="audio/wav")
    if end.get("verification") is not None:
        response[VERIFICATION_HEADER] = _verification_header(end["verification"])
    return response


VERIFICATION_HEADER = "X-Verification"


def _verification_header(verification: dict) -> str:
    """The verified take's check, e.g. ``failed; checked=3; respoken=1; failed=2``."""
    parts = [verification["status"], f"checked={verification['checked']}", f"respoken={verification['respoken']}"]
    if verification["failed"]:
        parts.append("failed=" + ",".join(str(chunk) for chunk in verification["failed"]))
    return "; ".join(parts)


@api.post("/tts_stream", auth=bearer_speech, summary="Speech as a chunked WAV stream", openapi_extra=AUDIO_RESPONSE)
async def tts_stream(request: HttpRequest, payload: schemas.SpeechRequest) -> HttpResponse:
    generation = await db_work(_speech_start)(request, payload, delivery=Generation.Delivery.PROGRESSIVE)
    events = aiter(_events(generation))
    # Wait for the first audio, so that a failure before it keeps its own status (502, 404, ...).
    try:
        first_pcm = await _first_audio(events)
    except BaseException:
        await events.aclose()
        await _cancel(generation)
        raise

    async def body() -> AsyncIterator[bytes]:
        end: dict | None = None
        try:
            yield wav_header() + first_pcm
            async for event in events:
                if event.kind == "audio":
                    yield event.pcm
                elif event.kind == "end":
                    end = event.data
        except TimeoutError:
            pass
        finally:
            await events.aclose()
            if end is None:
                await _cancel(generation)
        if end is None or end.get("status") != Generation.Status.DONE:
            # The status line went out with the first audio; only a cut-off transfer can tell the
            # caller this file is not whole (a clean end would look like a short, finished WAV).
            response_abort(_abort_reason(generation, end))

    return StreamingHttpResponse(body(), content_type="audio/wav")


def _abort_reason(generation: Generation, end: dict | None) -> str:
    if end is None:
        return f"generation {generation.id}: no word from the worker in time"
    return f"generation {generation.id} {end.get('status')}: {end.get('error_code')} {end.get('error')}"


async def _first_audio(events: AsyncIterator[RelayEvent]) -> bytes:
    try:
        async for event in events:
            if event.kind == "audio":
                return event.pcm
            if event.kind == "end":
                raise _failure(event.data)
    except TimeoutError:
        raise ApiError("TTS_PROVIDER_UNAVAILABLE", "The speech engine did not answer in time.") from None
    raise ApiError("TTS_PROVIDER_UNAVAILABLE", "The speech engine ended without audio.")


# ---------- the legacy API: POST /api/v1/tts with the token in the body ----------

LEGACY_WARMING_UP = "Warming up TTS model"
LEGACY_GENERATING = "Generating linguistic features"


def _legacy_start(payload: schemas.LegacySpeechRequest) -> Generation:
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
    return generation_create(
        user=api_token.user,
        text=payload.text,
        voice_id=str(voice.id),
        source=Generation.Source.LEGACY_API,
        delivery=Generation.Delivery.WHOLE,
        api_token=api_token,
        temperature=float(payload.temperature),
        language=payload.language,
    )


@api.post("/tts", auth=None, summary="Legacy: speech with progress as JSON lines, audio as base64 FLAC")
async def legacy_tts(request: HttpRequest, payload: schemas.LegacySpeechRequest) -> HttpResponse:
    generation = await db_work(_legacy_start)(payload)
    events = aiter(_events(generation))
    # As with tts_stream, a failure before the first event keeps its own status.
    try:
        first = await anext(events)
    except BaseException as error:
        await events.aclose()
        await _cancel(generation)
        if isinstance(error, (TimeoutError, StopAsyncIteration)):
            raise ApiError("TTS_PROVIDER_UNAVAILABLE", "The speech engine did not answer in time.") from None
        raise
    if first.kind == "end" and first.data.get("status") != Generation.Status.DONE:
        raise _failure(first.data)

    async def lines() -> AsyncIterator[bytes]:
        pcm = bytearray()
        end: dict | None = None
        try:
            async for event in _chain(first, events):
                if event.kind == "audio":
                    pcm.extend(event.pcm)
                elif event.kind == "progress":
                    yield _json_line(_legacy_status(event.data, pcm_seconds(len(pcm))))
                else:
                    end = event.data
        except TimeoutError:
            pass
        finally:
            await events.aclose()
            if end is None:
                await _cancel(generation)
        if end is not None and end.get("status") == Generation.Status.DONE:
            flac = await sync_to_async(flac_from_pcm)(bytes(pcm))
            data = {"audio_bytes": base64.b64encode(flac).decode(), "duration": round(end["seconds"], 3)}
            yield _json_line({"data": {**data, "request_finished": True}})
        else:
            # The legacy format has no error event: its readers wait for `request_finished`. A last
            # line in the API's envelope tells a reader of lines why; the cut-off transfer after it
            # tells every HTTP client (which would otherwise see a clean end) that this failed.
            failure = _failure(end or {"error": "The speech engine did not answer in time."})
            yield _json_line({"success": False, "code": failure.code, "message": failure.message})
            response_abort(_abort_reason(generation, end))

    return StreamingHttpResponse(lines(), content_type="application/x-ndjson")


async def _chain(first: RelayEvent, rest: AsyncIterator[RelayEvent]) -> AsyncIterator[RelayEvent]:
    yield first
    if first.kind != "end":
        async for event in rest:
            yield event


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


# ---------- API tokens ----------


def _token(token, secret: str | None = None) -> dict:
    return {
        "token_id": str(token.id),
        "name": token.name,
        "token": secret or token.masked,
        "created_at": token.created_at.isoformat(),
        "last_used_at": token.last_used_at.isoformat() if token.last_used_at else None,
        "scopes": list(token.scopes),
    }


@api.get("/tokens", auth=bearer_tokens_or_session, summary="Your active API tokens (masked)")
def tokens_list(request: HttpRequest) -> dict:
    return ok({"tokens": [_token(token) for token in tokens_active(request.auth)]})


@api.post(
    "/tokens",
    auth=bearer_tokens_or_session,
    response={201: dict},
    summary="Create a token; its secret is shown only in this answer",
)
def tokens_create(
    request: HttpRequest, response: HttpResponse, payload: schemas.TokenCreateRequest | None = None
) -> Status:
    name = name_clean(payload.name, max_length=100) if payload else "API token"
    if name is None:
        raise ApiError("VALIDATION_ERROR", "name must be 1 to 100 printable characters.")
    try:
        token, secret = token_create(
            user=request.auth, name=name, scopes=payload.scopes if payload else None, made_by=request.api_token
        )
    except TokenRefused as refused:
        raise ApiError(refused.code, str(refused)) from None
    # The answer carries a secret: no cache may keep it.
    response["Cache-Control"] = "no-store"
    return Status(201, ok(_token(token, secret)))


@api.delete("/tokens/{uuid:token_id}", auth=bearer_tokens_or_session, summary="Revoke a token at once")
def tokens_revoke(request: HttpRequest, token_id) -> dict:
    if not token_revoke(user=request.auth, token_id=token_id):
        raise ApiError("NOT_FOUND", "No such active token.")
    return ok({"token_id": str(token_id), "revoked": True})


# ---------- voice clones ----------


def _clone(voice: Voice) -> dict:
    # `name` is the cloning tutorial's field, `speaker_name` the API reference's: both, same value.
    # `fit` is ours (additive): how the clone's background improvement goes.
    fit = voice_fit_state(voice)
    del fit["voice_id"]
    return {
        "voice_id": str(voice.id),
        "name": voice.speaker_name,
        "speaker_name": voice.speaker_name,
        "created_at": voice.created_at.isoformat(),
        "fit": fit,
    }


@api.get("/voice-clones", auth=bearer_voices, summary="Your voice clones and your quota")
def voice_clones_list(request: HttpRequest) -> dict:
    clones = list(clones_for(request.auth))
    return ok(
        {
            "voice_clones": [_clone(voice) for voice in clones],
            "quota": {"used": len(clones), "limit": settings.VOICE_CLONE_LIMIT},
        }
    )


@api.post(
    "/voice-clones",
    auth=bearer_voices,
    response={201: dict},
    summary="Create a voice clone from a 5–10 s WAV or MP3",
    description="multipart/form-data with `speaker_name` (or `name`) and an `audio` file, or JSON "
    '`{"speaker_name" (or "name"), "audio_base64"}`. At most 10 MB. Costs 0.025 credits. Attempts are '
    "limited per account an hour (refused ones count): past it, 429 with Retry-After. The clone is usable "
    "at once, then improved in the background: `fit.status` goes `queued`, `fitting` (with `fit.progress`), "
    "then `improved` or `kept`; the recording is kept only until then.",
)
async def voice_clones_create(request: HttpRequest) -> Status:
    name, audio = _clone_upload(request)
    try:
        created = await clone_create(user=request.auth, speaker_name=name, audio=audio)
    except CloneRefused as refused:
        headers = {"Retry-After": str(refused.retry_after)} if refused.retry_after else None
        raise ApiError(refused.code, refused.message, headers=headers) from None
    return Status(
        201,
        ok(
            {
                **_clone(created.voice),
                "speech_seconds": created.reference.speech_seconds,
                "warnings": created.reference.warnings,
            }
        ),
    )


def _clone_upload(request: HttpRequest) -> tuple[object, bytes]:
    """The clone's name and audio, from a multipart form or a JSON body."""
    limit = settings.VOICE_CLONE_MAX_UPLOAD_BYTES
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("audio")
        if upload is None:
            raise ApiError("VALIDATION_ERROR", "audio: attach the recording as a file field named `audio`.")
        if upload.size > limit:
            raise ApiError("PAYLOAD_TOO_LARGE", "The recording is larger than 10 MB.")
        return request.POST.get("speaker_name") or request.POST.get("name"), upload.read()
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd numbers, absurd nesting
        raise ApiError("VALIDATION_ERROR", "Send multipart/form-data or a JSON object.") from None
    if not isinstance(body, dict) or not isinstance(body.get("audio_base64"), str):
        raise ApiError("VALIDATION_ERROR", "audio_base64: a base64-encoded WAV or MP3 is required.")
    try:
        audio = base64.b64decode(body["audio_base64"], validate=True)
    except ValueError:
        raise ApiError("VALIDATION_ERROR", "audio_base64 is not valid base64.") from None
    if len(audio) > limit:
        raise ApiError("PAYLOAD_TOO_LARGE", "The recording is larger than 10 MB.")
    return body.get("speaker_name") or body.get("name"), audio


@api.delete("/voice-clones/{uuid:voice_id}", auth=bearer_voices, summary="Delete a voice clone")
def voice_clones_delete(request: HttpRequest, voice_id) -> dict:
    if not clone_delete(user=request.auth, voice_id=voice_id):
        raise ApiError("NOT_FOUND", "No such voice clone.")
    return ok({"voice_id": str(voice_id), "deleted": True})
