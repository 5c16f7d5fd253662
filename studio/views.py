import json
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import AuthenticatedRequest
from accounts.selectors import teams_for
from billing.pricing import PRICE_PER_SECOND, SECONDS_PER_CHAR_TYPICAL, SECONDS_PER_JAPANESE_CHAR_TYPICAL
from core.audio_formats import AUDIO_FORMATS
from core.errors import ApplicationError, json_errors
from core.files import ranged_file_response
from core.html import json_script_of
from studio.captions import captions_response
from studio.models import Generation
from studio.selectors import (
    CAPTION_FORMATS,
    DOWNLOAD_FORMATS,
    SessionAccess,
    generation_download_name,
    generation_get_for_user,
    generation_state,
    generations_feed_json,
    generations_history,
    generations_page,
    history_voices,
    session_access,
    session_shares,
    sessions_page,
)
from studio.services import (
    generation_again,
    generation_cancel,
    generation_create,
    generation_delete,
    generation_rendition_get_or_create,
    session_create,
    session_delete,
    session_latest_or_create,
    session_rename,
    session_share,
    session_unshare,
)
from voices.selectors import voices_by_language

SIDEBAR_PAGE_SIZE = 30
# The composer's speed choices: the range the voices speak well themselves (engine/speed.py).
COMPOSER_SPEEDS = (0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("studio:index")
    return render(request, "home.html")


def _access_or_404(request: AuthenticatedRequest, session_id, *, owner: bool = False):
    access = session_access(request.user, session_id)
    if access is None or (owner and not access.is_owner):
        raise Http404("No such session")
    return access


@login_required
def studio_index(request: AuthenticatedRequest) -> HttpResponse:
    return redirect("studio:session_detail", session_id=session_latest_or_create(owner=request.user).id)


@login_required
@require_POST
def session_new(request: AuthenticatedRequest) -> HttpResponse:
    return redirect("studio:session_detail", session_id=session_create(owner=request.user).id)


@login_required
@require_GET
def session_detail(request: AuthenticatedRequest, session_id) -> HttpResponse:
    access = _access_or_404(request, session_id)
    sessions = sessions_page(request.user, page=request.GET.get("sessions"), size=SIDEBAR_PAGE_SIZE)
    feed, has_earlier = generations_page(access.session, before=request.GET.get("before"))
    return render(
        request,
        "studio/session.html",
        {
            "session": access.session,
            "access": access,
            "sessions": sessions,
            "voice_groups": voices_by_language(request.user),
            "has_feed": bool(feed),
            "feed_json": json_script_of(generations_feed_json(feed, viewer=access), "feed-data"),
            "earlier_before": feed[0].id if has_earlier and feed else None,
            "max_chars": settings.TTS_MAX_TEXT_CHARS,
            "shares": session_shares(access.session) if access.is_owner else [],
            "teams": teams_for(request.user) if access.is_owner else [],
            # The composer's estimate: an ordinary reading pace, at the price of a second.
            "micro_per_char": SECONDS_PER_CHAR_TYPICAL * PRICE_PER_SECOND,
            "micro_per_japanese_char": SECONDS_PER_JAPANESE_CHAR_TYPICAL * PRICE_PER_SECOND,
            "speeds": COMPOSER_SPEEDS,
        },
    )


@login_required
@require_POST
def session_edit(request: AuthenticatedRequest, session_id) -> HttpResponse:
    access = _access_or_404(request, session_id, owner=True)
    try:
        session_rename(session=access.session, title=request.POST.get("title", ""))
    except ApplicationError as refused:
        messages.error(request, refused.message)
    return redirect("studio:session_detail", session_id=access.session.id)


@login_required
@require_POST
def session_remove(request: AuthenticatedRequest, session_id) -> HttpResponse:
    access = _access_or_404(request, session_id, owner=True)
    session_delete(session=access.session)
    messages.success(request, "The session was deleted.")
    return redirect("studio:index")


@login_required
@require_POST
def session_share_edit(request: AuthenticatedRequest, session_id) -> HttpResponse:
    access = _access_or_404(request, session_id, owner=True)
    try:
        if request.POST.get("unshare"):
            session_unshare(session=access.session, share_id=request.POST["unshare"])
        else:
            share = session_share(
                session=access.session,
                by=request.user,
                team_id=request.POST.get("team"),
                role=request.POST.get("role", ""),
            )
            messages.success(request, f"Shared with {share.team.name} as {share.get_role_display().lower()}s.")
    except ApplicationError as refused:
        messages.error(request, refused.message)
    except ValueError:
        messages.error(request, "That did not work.")
    return redirect("studio:session_detail", session_id=access.session.id)


@login_required
@require_GET
def history(request: AuthenticatedRequest) -> HttpResponse:
    """Every generation the user made, from any source, newest first: a plain GET form filters by
    voice and source, and the pages follow a cursor (the list needs no script)."""
    voice, source = request.GET.get("voice", ""), request.GET.get("source", "")
    try:
        page = generations_history(user=request.user, voice=voice, source=source, after=request.GET.get("after"))
    except ApplicationError as refused:
        messages.error(request, refused.message)
        return redirect("studio:history")
    filters = {name: value for name, value in (("voice", voice), ("source", source)) if value}
    return render(
        request,
        "studio/history.html",
        {
            "items": [generation_state(g, with_peaks=False) for g in page.items],
            "has_more": page.has_more,
            "next_query": urlencode({**filters, "after": page.next}) if page.next else "",
            "first_query": urlencode(filters),
            "paged": bool(request.GET.get("after")),
            "voices": history_voices(user=request.user),
            "sources": Generation.Source.choices,
            "voice": voice,
            "source": source,
        },
    )


def _json_object(request: AuthenticatedRequest) -> dict:
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, RecursionError):  # bad JSON, bad UTF-8, absurd numbers, absurd nesting
        raise ApplicationError("VALIDATION_ERROR", "The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise ApplicationError("VALIDATION_ERROR", "The request body must be a JSON object.")
    return body


@login_required
@require_http_methods(["GET", "POST"])
@json_errors
def session_generations(request: AuthenticatedRequest, session_id) -> HttpResponse:
    """GET: the feed's current state (the page catches up with it after a reconnect).
    POST: a new generation from the composer, JSON {"text", "voice_id"} and optionally "language"
    (detected from the text without it) and "speed" (0.5..2.0 on the page; 1 without it)."""
    access = session_access(request.user, session_id)
    if access is None:
        raise ApplicationError("NOT_FOUND", "No such session.")
    session = access.session
    if request.method == "GET":
        window, _ = generations_page(session, since=request.GET.get("since"))
        feed = generations_feed_json(window, viewer=access)
        return HttpResponse(f'{{"generations":{feed}}}', content_type="application/json")
    if not access.can_generate:
        raise ApplicationError("FORBIDDEN", "You can listen to this session, but not generate in it.")
    body = _json_object(request)
    verify = body.get("verify", True)  # on by default in the Studio
    if not isinstance(verify, bool):
        raise ApplicationError("VALIDATION_ERROR", "verify must be true or false.")
    generation = generation_create(
        user=request.user,
        session=session,
        text=body.get("text"),
        voice_id=body.get("voice_id"),
        language=body.get("language"),
        verify=verify,
        speed=body.get("speed", 1.0),
    )
    return JsonResponse(
        {"generation": generation_state(generation, viewer=access), "session_title": session.title}, status=201
    )


def _generation_for_action(request: AuthenticatedRequest, generation_id) -> tuple[Generation, SessionAccess]:
    generation = generation_get_for_user(request.user, generation_id)
    access = session_access(request.user, generation.session_id) if generation and generation.session_id else None
    if generation is None or access is None:
        raise ApplicationError("NOT_FOUND", "No such generation.")
    return generation, access


@login_required
@require_POST
@json_errors
def generation_action(request: AuthenticatedRequest, generation_id, action: str) -> JsonResponse:
    """cancel and delete: the one who generated it or the session's owner; again: whoever may generate."""
    generation, access = _generation_for_action(request, generation_id)
    if action == "again" and access.can_generate:
        again = generation_again(generation=generation, user=request.user)
        return JsonResponse({"generation": generation_state(again, viewer=access)}, status=201)
    if action == "cancel" and access.may_manage(generation):
        generation_cancel(generation_id=generation.id)
        return JsonResponse({"ok": True})
    if action == "delete" and access.may_manage(generation):
        generation_delete(generation=generation)
        return JsonResponse({"ok": True})
    raise ApplicationError("FORBIDDEN", "You may not do that in this session.")


@login_required
@require_GET
def generation_captions(request: AuthenticatedRequest, generation_id) -> HttpResponseBase:
    """The take's captions (SRT or WebVTT) for whoever may hear it: its owner and those it is
    shared with, for as long as they are."""
    generation = generation_get_for_user(request.user, generation_id)
    format_name = request.GET.get("format", "srt")
    if generation is None or not generation.words or format_name not in CAPTION_FORMATS:
        raise Http404("No such captions")
    return captions_response(generation=generation, format_name=format_name, download=True)


@login_required
@require_GET
def generation_audio(request: AuthenticatedRequest, generation_id) -> HttpResponseBase:
    generation = generation_get_for_user(request.user, generation_id)
    if generation is None or not generation.audio:
        raise Http404("No such audio")
    name = generation_download_name(generation)
    format_name = request.GET.get("format")
    if format_name is not None and format_name not in DOWNLOAD_FORMATS:
        raise Http404("No such format")
    if format_name in (None, "wav"):  # the take itself: played (Range requests), or downloaded
        download = format_name == "wav" or bool(request.GET.get("download"))
        return ranged_file_response(
            request, generation.audio, content_type="audio/wav", download_name=f"{name}.wav" if download else None
        )
    rendition = generation_rendition_get_or_create(generation=generation, format_name=format_name)
    audio_format = AUDIO_FORMATS[format_name]
    return ranged_file_response(
        request,
        rendition.file,
        content_type=audio_format.content_type,
        download_name=f"{name}.{audio_format.extension}",
    )
