"""The account's pronunciation dictionary (issue 17): its rules, listed, made, deleted, imported
and exported as PLS or CSV. Every generation applies them (studio.services.generation_create)."""

import uuid

from django.http import HttpResponse
from ninja import Router, Status

from api.auth import ApiRequest, bearer_speech
from api.errors import ApiError, ok
from api.schemas import (
    PronunciationCreatedOut,
    PronunciationCreateRequest,
    PronunciationDeletedOut,
    PronunciationOut,
    PronunciationsImportedOut,
    PronunciationsOut,
    responses,
)
from core.pronunciation import PronunciationRule as Rule
from voices.models import PronunciationRule
from voices.pronunciation_files import FILE_MAX_BYTES
from voices.selectors import pronunciation_rules_visible, pronunciations_export
from voices.services import (
    PRONUNCIATION_RULES_LIMIT,
    pronunciation_rule_create,
    pronunciation_rule_delete,
    pronunciations_import,
)

router = Router(tags=["pronunciations"])

FILE_TYPES = {"pls": "application/pls+xml; charset=utf-8", "csv": "text/csv; charset=utf-8"}


def pronunciation_out(rule: PronunciationRule, *, shared: bool = False) -> PronunciationOut:
    return PronunciationOut(
        pronunciation_id=str(rule.id),
        match=rule.match,
        alias=rule.alias or None,
        ipa=rule.ipa or None,
        case_sensitive=rule.case_sensitive,
        whole_word=rule.whole_word,
        shared=shared,
        created_at=rule.created_at.isoformat(),
    )


@router.get(
    "/pronunciations",
    auth=bearer_speech,
    response=responses({200: PronunciationsOut}),
    summary="Your pronunciation rules and those your teams share with you",
)
def pronunciations_list(request: ApiRequest) -> dict:
    rules = list(pronunciation_rules_visible(user=request.auth))
    own = [rule.owner_id == request.auth.id for rule in rules]
    return ok(
        {
            "pronunciations": [pronunciation_out(rule, shared=not mine) for rule, mine in zip(rules, own, strict=True)],
            "quota": {"used": sum(own), "limit": PRONUNCIATION_RULES_LIMIT},
        }
    )


@router.post(
    "/pronunciations",
    auth=bearer_speech,
    response=responses({201: PronunciationCreatedOut}),
    summary="Add a rule: a word or phrase said as an alias or with IPA sounds",
    description="Applied to every generation of yours from then on (and of your teams', when you share "
    "your dictionary with a team on the Studio's Pronunciations page). The longest match wins; a second "
    "rule of the same match is refused (delete the first).",
)
def pronunciations_create(request: ApiRequest, payload: PronunciationCreateRequest) -> Status:
    rule = pronunciation_rule_create(
        user=request.auth,
        rule=Rule(
            payload.match,
            alias=payload.alias,
            ipa=payload.ipa,
            case_sensitive=payload.case_sensitive,
            whole_word=payload.whole_word,
        ),
    )
    return Status(201, ok(pronunciation_out(rule)))


@router.delete(
    "/pronunciations/{uuid:pronunciation_id}",
    auth=bearer_speech,
    response=responses({200: PronunciationDeletedOut}, 404),
    summary="Delete one of your rules",
)
def pronunciations_delete(request: ApiRequest, pronunciation_id: uuid.UUID) -> dict:
    if not pronunciation_rule_delete(user=request.auth, rule_id=pronunciation_id):
        raise ApiError("NOT_FOUND", "No such pronunciation rule of yours.")
    return ok({"pronunciation_id": str(pronunciation_id), "deleted": True})


@router.post(
    "/pronunciations/import",
    auth=bearer_speech,
    response=responses({200: PronunciationsImportedOut}),
    summary="Import rules from a PLS or CSV file",
    description="The file as the body, `Content-Type: application/pls+xml` (a W3C PLS lexicon: "
    "`<lexeme><grapheme>…</grapheme><alias>…</alias>` or `<phoneme>` in IPA) or `text/csv` (columns "
    "`match,alias,ipa,case_sensitive,whole_word`), at most 1 MB. All or nothing: a bad rule refuses the "
    "file and is named. A rule of a match you already have replaces yours.",
)
def pronunciations_import_file(request: ApiRequest) -> dict:
    file_format = _format_of(request.content_type or "")
    if len(request.body) > FILE_MAX_BYTES:
        raise ApiError("PAYLOAD_TOO_LARGE", "The file is larger than 1 MB.")
    imported = pronunciations_import(user=request.auth, content=request.body, file_format=file_format)
    return ok({"imported": imported})


def _format_of(content_type: str) -> str:
    if content_type in {"application/pls+xml", "application/xml", "text/xml"}:
        return "pls"
    if content_type in {"text/csv", "application/csv"}:
        return "csv"
    raise ApiError("VALIDATION_ERROR", "Send the file with Content-Type application/pls+xml or text/csv.")


@router.get(
    "/pronunciations/export",
    auth=bearer_speech,
    response={200: None, **responses({})},
    summary="Your own rules as a PLS or CSV file",
    description="`?format=pls` (the default; PLS has no case or word options, so they are not kept) or "
    "`?format=csv` (every option kept).",
)
def pronunciations_export_file(request: ApiRequest, format: str = "pls") -> HttpResponse:
    if format not in FILE_TYPES:
        raise ApiError("VALIDATION_ERROR", "format is pls or csv.")
    response = HttpResponse(
        pronunciations_export(user=request.auth, file_format=format), content_type=FILE_TYPES[format]
    )
    response["Content-Disposition"] = f'attachment; filename="pronunciations.{format}"'
    return response
