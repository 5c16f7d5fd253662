"""The account's history: every generation it made (Studio, API, legacy, /v1), newest first, and
each one's audio for the same token. Anyone else's id is 404, never 403: nothing says it exists."""

import uuid

from django.http.response import HttpResponseBase
from django.urls import reverse
from ninja import Query, Router

from api.auth import ApiRequest, bearer_speech
from api.errors import ApiError, ok
from api.schemas import GenerationItemOut, GenerationOut, GenerationsOut, GenerationVoiceOut, responses
from billing.pricing import credits_format
from core.files import ranged_file_response
from studio.captions import captions_response
from studio.models import Generation
from studio.selectors import (
    CAPTION_FORMATS,
    HISTORY_PAGE_SIZE,
    generation_download_name,
    generation_of_owner,
    generations_history,
)

router = Router(tags=["generations"])
WAV_RESPONSE = {
    "responses": {
        200: {"description": "24 kHz mono 16-bit WAV", "content": {"audio/wav": {"schema": {"type": "string"}}}},
        206: {"description": "The byte range asked for with `Range`"},
    }
}


def generation_out(request: ApiRequest, generation: Generation) -> GenerationOut:
    audio_url = (
        request.build_absolute_uri(reverse("api-v1:generation_audio", args=[generation.id]))
        if generation.audio
        else None
    )
    return GenerationOut(
        id=str(generation.id),
        text=generation.text,
        voice=GenerationVoiceOut(
            id=str(generation.voice_id) if generation.voice_id else None, name=generation.voice_name
        ),
        seconds=round(generation.seconds, 3),
        cost=credits_format(generation.cost),
        source=generation.source,
        status=generation.status,
        created_at=generation.created_at.isoformat(),
        audio_url=audio_url,
    )


def _own_generation(request: ApiRequest, generation_id: uuid.UUID) -> Generation:
    generation = generation_of_owner(user=request.auth, generation_id=generation_id)
    if generation is None:
        raise ApiError("NOT_FOUND", "No such generation.")
    return generation


@router.get(
    "/generations",
    auth=bearer_speech,
    response=responses({200: GenerationsOut}),
    summary="Your generations, newest first, a page at a time",
)
def generations_list(
    request: ApiRequest,
    after: str | None = Query(None, description="The `next` of the page before; absent for the newest."),
    limit: int = Query(HISTORY_PAGE_SIZE, description="Items a page, 1 to 100."),
    voice: str | None = Query(None, description="Only those in this voice (its id)."),
    source: str | None = Query(None, description="Only those from this source (`studio`, `api`, ...)."),
) -> dict:
    page = generations_history(user=request.auth, voice=voice, source=source, after=after, limit=limit)
    return ok(
        {
            "items": [generation_out(request, generation) for generation in page.items],
            "has_more": page.has_more,
            "next": page.next,
        }
    )


@router.get(
    "/generations/{uuid:generation_id}",
    auth=bearer_speech,
    response=responses({200: GenerationItemOut}, 404),
    summary="One of your generations",
)
def generation_detail(request: ApiRequest, generation_id: uuid.UUID) -> dict:
    return ok(generation_out(request, _own_generation(request, generation_id)))


@router.get(
    "/generations/{uuid:generation_id}/audio",
    auth=bearer_speech,
    response=responses({}, 404),
    url_name="generation_audio",
    summary="A generation's audio (WAV, with Range)",
    openapi_extra=WAV_RESPONSE,
)
def generation_audio(request: ApiRequest, generation_id: uuid.UUID) -> HttpResponseBase:
    generation = _own_generation(request, generation_id)
    if not generation.audio:
        raise ApiError("NOT_FOUND", "This generation has no audio (yet).")
    return ranged_file_response(
        request,
        generation.audio,
        content_type="audio/wav",
        download_name=f"{generation_download_name(generation)}.wav" if request.GET.get("download") else None,
    )


@router.get(
    "/generations/{uuid:generation_id}/captions",
    auth=bearer_speech,
    response=responses({}, 400, 404),
    summary="A generation's captions (SRT or WebVTT) from its words' timings",
    openapi_extra={
        "responses": {
            200: {
                "description": "The captions",
                "content": {
                    "application/x-subrip": {"schema": {"type": "string"}},
                    "text/vtt": {"schema": {"type": "string"}},
                },
            }
        }
    },
)
def generation_captions(
    request: ApiRequest,
    generation_id: uuid.UUID,
    format: str = Query("srt", description="`srt` (default) or `vtt`."),
) -> HttpResponseBase:
    if format not in CAPTION_FORMATS:
        raise ApiError("VALIDATION_ERROR", "format must be srt or vtt.")
    generation = _own_generation(request, generation_id)
    if not generation.words:
        raise ApiError(
            "NOT_FOUND",
            "This generation has no word timings (not finished, not English, or made before they were kept).",
        )
    return captions_response(generation=generation, format_name=format, download=bool(request.GET.get("download")))
