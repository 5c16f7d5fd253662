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
from accounts.selectors import teams_for
from core.files import ranged_file_response
from core.pronunciation import PronunciationRule as PronunciationRuleValue
from voices.pronunciation_files import FILE_MAX_BYTES
from voices.selectors import (
    clones_for,
    pronunciation_rules_visible,
    pronunciation_shares_for,
    pronunciations_export,
    voice_get_available,
    voices_by_language,
)
from voices.services import (
    PRONUNCIATION_RULES_LIMIT,
    CloneRefused,
    PronunciationRefused,
    clone_create,
    clone_delete,
    pronunciation_rule_create,
    pronunciation_rule_delete,
    pronunciations_import,
    pronunciations_share,
    pronunciations_unshare,
    voice_preview_request,
)


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


# ---------- pronunciation dictionary ----------

EXPORT_TYPES = {"pls": "application/pls+xml; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def _pronunciations_page(request: AuthenticatedRequest, *, status: int = 200, **extra) -> HttpResponse:
    rules = list(pronunciation_rules_visible(user=request.user))
    shared_team_ids = {share.team_id for share in pronunciation_shares_for(user=request.user)}
    context = {
        "own_rules": [rule for rule in rules if rule.owner_id == request.user.id],
        "shared_rules": [rule for rule in rules if rule.owner_id != request.user.id],
        "limit": PRONUNCIATION_RULES_LIMIT,
        "teams": [(team, team.id in shared_team_ids) for team in teams_for(request.user)],
        "voice_groups": voices_by_language(request.user),
        "form": {"whole_word": True, "kind": "alias"},
        **extra,
    }
    return render(request, "voices/pronunciations.html", context, status=status)


@login_required
@require_GET
def pronunciations(request: AuthenticatedRequest) -> HttpResponse:
    return _pronunciations_page(request)


@login_required
@require_POST
def pronunciation_new(request: AuthenticatedRequest) -> HttpResponse:
    match, says = request.POST.get("match", ""), request.POST.get("says", "")
    kind = "ipa" if request.POST.get("kind") == "ipa" else "alias"
    case_sensitive = request.POST.get("case_sensitive") == "on"
    whole_word = request.POST.get("whole_word") == "on"
    rule = PronunciationRuleValue(
        match,
        alias=says if kind == "alias" else None,
        ipa=says if kind == "ipa" else None,
        case_sensitive=case_sensitive,
        whole_word=whole_word,
    )
    form = {"match": match, "kind": kind, "says": says, "case_sensitive": case_sensitive, "whole_word": whole_word}
    try:
        created = pronunciation_rule_create(user=request.user, rule=rule)
    except PronunciationRefused as refused:
        return _pronunciations_page(request, error=refused.message, form=form, status=refused.status)
    messages.success(request, f"“{created.match}” is said your way in every generation from now on.")
    return redirect("voices:pronunciations")


@login_required
@require_POST
def pronunciation_remove(request: AuthenticatedRequest, rule_id) -> HttpResponse:
    if not pronunciation_rule_delete(user=request.user, rule_id=rule_id):
        raise Http404("No such rule")
    messages.success(request, "The rule was deleted.")
    return redirect("voices:pronunciations")


@login_required
@require_POST
def pronunciations_share_edit(request: AuthenticatedRequest) -> HttpResponse:
    team_id = request.POST.get("team_id", "")
    if request.POST.get("action") == "unshare":
        pronunciations_unshare(user=request.user, team_id=team_id)
        messages.success(request, "Your dictionary is no longer shared with that team.")
        return redirect("voices:pronunciations")
    try:
        share = pronunciations_share(user=request.user, team_id=team_id)
    except PronunciationRefused as refused:
        return _pronunciations_page(request, error=refused.message, status=refused.status)
    messages.success(request, f"Your dictionary is shared with {share.team.name}: its members' generations use it.")
    return redirect("voices:pronunciations")


@login_required
@require_POST
def pronunciations_import_file(request: AuthenticatedRequest) -> HttpResponse:
    upload = request.FILES.get("file")
    if upload is None:
        return _pronunciations_page(request, import_error="Choose a .pls or .csv file.", status=400)
    if (upload.size or 0) > FILE_MAX_BYTES:
        return _pronunciations_page(request, import_error="The file is larger than 1 MB.", status=413)
    file_format = (upload.name or "").rpartition(".")[2].lower()
    try:
        imported = pronunciations_import(user=request.user, content=upload.read(), file_format=file_format)
    except PronunciationRefused as refused:
        return _pronunciations_page(request, import_error=refused.message, status=refused.status)
    messages.success(request, f"{imported} rule{'s' if imported != 1 else ''} imported.")
    return redirect("voices:pronunciations")


@login_required
@require_GET
def pronunciations_export_file(request: AuthenticatedRequest) -> HttpResponse:
    file_format = request.GET.get("format", "pls")
    if file_format not in EXPORT_TYPES:
        raise Http404("No such format")
    response = HttpResponse(
        pronunciations_export(user=request.user, file_format=file_format), content_type=EXPORT_TYPES[file_format]
    )
    response["Content-Disposition"] = f'attachment; filename="pronunciations.{file_format}"'
    return response
