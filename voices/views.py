from typing import cast

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from accounts.http import AuthenticatedRequest
from accounts.models import User
from core.files import ranged_file_response
from voices.selectors import clones_for, voice_get_available
from voices.services import CloneRefused, clone_create, clone_delete, voice_preview_request


def _clones_page(request: AuthenticatedRequest, *, status: int = 200, **extra) -> HttpResponse:
    clones = list(clones_for(request.user))
    context = {"clones": clones, "limit": settings.VOICE_CLONE_LIMIT, "max_mb": 10, **extra}
    return render(request, "voices/clones.html", context, status=status)


@login_required
@require_GET
def clones(request: AuthenticatedRequest) -> HttpResponse:
    return _clones_page(request)


@login_required
@require_POST
async def clone_new(request: AuthenticatedRequest) -> HttpResponse:
    # Async, as the API's: creating a clone awaits the engine without holding a thread.
    user = cast(User, await request.auser())  # signed in: login_required let it through
    page = sync_to_async(_clones_page)  # the page's template reads the database
    upload = request.FILES.get("audio")
    name = request.POST.get("speaker_name", "")
    if upload is None:
        return await page(request, error="Choose a recording (WAV or MP3) or record one.", name=name, status=400)
    if (upload.size or 0) > settings.VOICE_CLONE_MAX_UPLOAD_BYTES:
        return await page(request, error="The recording is larger than 10 MB.", name=name, status=400)
    try:
        created = await clone_create(
            user=user, speaker_name=name, audio=upload.read(), consent=request.POST.get("consent") == "on"
        )
    except CloneRefused as refused:
        # The page says why, with the status and headers (Retry-After) the API would answer.
        response = await page(request, error=refused.message, name=name, status=refused.status)
        for header, value in refused.headers.items():
            response[header] = value
        return response
    improving = " It is being improved in the background, at no cost." if created.voice.fit_running else ""
    messages.success(
        request,
        f"“{created.voice.speaker_name}” is ready: {created.reference.speech_seconds:.1f} s of speech used. "
        f"It is in the Studio's voice list now.{improving}",
    )
    for warning in created.reference.warnings:
        messages.warning(request, warning)
    return redirect("voices:clones")


@login_required
@require_POST
def clone_remove(request: AuthenticatedRequest, voice_id) -> HttpResponse:
    if not clone_delete(user=request.user, voice_id=voice_id):
        raise Http404("No such voice clone")
    messages.success(request, "The voice clone was deleted. Audio made with it stays in your sessions.")
    return redirect("voices:clones")


@login_required
@require_GET
def voice_preview(request: AuthenticatedRequest, voice_id) -> HttpResponseBase:
    voice = voice_get_available(request.user, str(voice_id))
    if voice is None:
        raise Http404("No such voice")
    if not voice.preview:
        voice_preview_request(voice)
        return JsonResponse({"status": "preparing"}, status=202)
    return ranged_file_response(request, voice.preview, content_type="audio/wav")
