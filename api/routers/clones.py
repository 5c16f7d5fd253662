import base64
import json
import uuid

from django.conf import settings
from ninja import Router, Status

from api.auth import ApiRequest, bearer_voices
from api.errors import ApiError, ok
from api.idempotency import idempotent
from api.schemas import CloneCreatedEnvelope, CloneCreatedOut, CloneDeletedOut, CloneOut, ClonesOut, FitOut, responses
from voices.models import Voice
from voices.selectors import clones_for, voice_fit_state
from voices.services import clone_create, clone_delete

router = Router(tags=["voice clones"])


def clone_out(voice: Voice) -> CloneOut:
    # `fit` is ours (additive): how the clone's background improvement goes.
    fit = voice_fit_state(voice)
    del fit["voice_id"]
    return CloneOut(
        voice_id=str(voice.id),
        name=voice.speaker_name,
        speaker_name=voice.speaker_name,
        created_at=voice.created_at.isoformat(),
        fit=FitOut(**fit),
    )


@router.get(
    "/voice-clones",
    auth=bearer_voices,
    response=responses({200: ClonesOut}),
    summary="Your voice clones and your quota",
)
def voice_clones_list(request: ApiRequest) -> dict:
    clones = list(clones_for(request.auth))
    return ok(
        {
            "voice_clones": [clone_out(voice) for voice in clones],
            "quota": {"used": len(clones), "limit": settings.VOICE_CLONE_LIMIT},
        }
    )


@router.post(
    "/voice-clones",
    auth=bearer_voices,
    response=responses({201: CloneCreatedEnvelope}, 402, 429, 502),
    summary="Create a voice clone from a 5–10 s WAV or MP3",
    description="multipart/form-data with `speaker_name` (or `name`) and an `audio` file, or JSON "
    '`{"speaker_name" (or "name"), "audio_base64"}`. At most 10 MB. Costs 0.025 credits. Attempts are '
    "limited per account an hour (refused ones count): past it, 429 with Retry-After. The clone is usable "
    "at once, then improved in the background: `fit.status` goes `queued`, `fitting` (with `fit.progress`), "
    "then `improved` or `kept`; the recording is kept only until then.",
)
@idempotent
async def voice_clones_create(request: ApiRequest) -> Status:
    name, audio = _clone_upload(request)
    created = await clone_create(user=request.auth, speaker_name=name, audio=audio)
    data = CloneCreatedOut(
        **clone_out(created.voice).model_dump(),
        speech_seconds=created.reference.speech_seconds,
        warnings=created.reference.warnings,
    )
    return Status(201, ok(data))


def _clone_upload(request: ApiRequest) -> tuple[object, bytes]:
    """The clone's name and audio, from a multipart form or a JSON body."""
    limit = settings.VOICE_CLONE_MAX_UPLOAD_BYTES
    if request.content_type == "multipart/form-data":
        upload = request.FILES.get("audio")
        if upload is None:
            raise ApiError("VALIDATION_ERROR", "audio: attach the recording as a file field named `audio`.")
        if upload.size is not None and upload.size > limit:
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


@router.delete(
    "/voice-clones/{uuid:voice_id}",
    auth=bearer_voices,
    response=responses({200: CloneDeletedOut}, 404),
    summary="Delete a voice clone",
)
def voice_clones_delete(request: ApiRequest, voice_id: uuid.UUID) -> dict:
    if not clone_delete(user=request.auth, voice_id=voice_id):
        raise ApiError("NOT_FOUND", "No such voice clone.")
    return ok({"voice_id": str(voice_id), "deleted": True})
