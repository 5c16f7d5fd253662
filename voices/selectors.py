import uuid

from django.db.models import F, Q, QuerySet

from accounts.models import User
from core import pronunciation
from core.text import text_storable
from engine.languages import BACKEND_LANGUAGES, LANGUAGE_NAMES, language_normalize, profile_backend
from voices.builtin import BUILTIN_BY_NAME
from voices.models import PronunciationRule, PronunciationShare, Voice
from voices.pronunciation_files import rules_render


def voices_available(user: User) -> QuerySet[Voice]:
    """The built-in voices and the user's own clones, built-ins first."""
    return Voice.objects.filter(Q(kind=Voice.Kind.BUILTIN) | Q(owner=user), is_active=True).order_by(
        "kind", "speaker_name"
    )


def voice_get_available(user: User, voice_ref: str) -> Voice | None:
    """A voice the user may use, by its voice_id or, failing that, by its name."""
    try:
        voice_id = uuid.UUID(str(voice_ref))
    except ValueError:
        return voice_get_by_name(user, str(voice_ref))
    return voices_available(user).filter(id=voice_id).first()


def voice_get_by_name(user: User, name: str, *, kind: str | None = None) -> Voice | None:
    """Names match without regard to case; the published docs also spell the built-ins "-NEURAL"."""
    if not text_storable(name):
        return None
    name = name.strip()[:80]
    voices = voices_available(user)
    if kind:
        voices = voices.filter(kind=kind)
    voice = voices.filter(speaker_name__iexact=name).first()
    if voice is None and name.upper().endswith("-NEURAL"):
        voice = voices.filter(speaker_name__iexact=name[: -len("NEURAL")] + "NEUTRAL").first()
    return voice


def clones_for(user: User) -> QuerySet[Voice]:
    return Voice.objects.filter(owner=user, kind=Voice.Kind.CLONE).order_by("-created_at")


def clones_count(user: User) -> int:
    return clones_for(user).count()


def voice_languages(voice: Voice) -> tuple[str, ...]:
    """The languages (primary tags) the voice may read: those of the engine backend that speaks
    it, a built-in's from the catalogue, a clone's from its profile's kind."""
    backend: str | None
    if voice.is_clone:
        backend = profile_backend(voice.profile or {})
    else:
        builtin = BUILTIN_BY_NAME.get(voice.engine_voice or voice.speaker_name)
        backend = builtin.backend if builtin else None
    return BACKEND_LANGUAGES.get(backend, ()) if backend else ()


def voices_by_language(user: User) -> list[tuple[str, list[Voice]]]:
    """The user's available voices grouped by the language each was made for (English first),
    each group labelled for people: [("English", [...]), ("Japanese", [...])]."""
    groups: dict[str, list[Voice]] = {}
    for voice in voices_available(user):
        groups.setdefault(language_normalize(voice.language) or "", []).append(voice)
    order = list(LANGUAGE_NAMES)
    tags = sorted(groups, key=lambda tag: (order.index(tag) if tag in order else len(order), tag))
    return [(LANGUAGE_NAMES.get(tag, tag or "Other"), groups[tag]) for tag in tags]


def voice_fit_state(voice: Voice) -> dict:
    """A clone's background fit as its owner sees it (the API, the clone page, the Studio's socket)."""
    return {
        "voice_id": str(voice.id),
        "status": voice.fit_status or "none",
        "progress": round(voice.fit_progress, 3),
        "scores": voice.fit_scores,
        "finished_at": voice.fit_finished_at.isoformat() if voice.fit_finished_at else None,
    }


# ---------- pronunciation dictionary ----------


def pronunciation_owners_shared_with(*, user: User) -> QuerySet[PronunciationShare]:
    """The shares that reach the user: of a team the user is in, by an owner still in it."""
    return (
        PronunciationShare.objects.filter(team__memberships__user=user)
        .filter(team__memberships__user=F("owner"))  # a second join: the owner's own membership
        .exclude(owner=user)
    )


def pronunciation_rules_visible(*, user: User) -> QuerySet[PronunciationRule]:
    """The user's own rules and those a teammate shares with a team they are both in: own first,
    then by match."""
    shared_owners = pronunciation_owners_shared_with(user=user).values("owner_id")
    return (
        PronunciationRule.objects.filter(Q(owner=user) | Q(owner_id__in=shared_owners))
        .select_related("owner")
        .annotate(shared=~Q(owner=user))
        .order_by("shared", "match", "owner__email")
    )


def pronunciation_rules_for_user(*, user: User) -> list[pronunciation.PronunciationRule]:
    """The rules a generation of the user applies (core.pronunciation.script_pronounce), own
    before shared, so the user's own rule of a match wins."""
    return [pronunciation_rule_value(rule) for rule in pronunciation_rules_visible(user=user)]


def pronunciation_rule_value(rule: PronunciationRule) -> pronunciation.PronunciationRule:
    return pronunciation.PronunciationRule(
        rule.match,
        alias=rule.alias or None,
        ipa=rule.ipa or None,
        case_sensitive=rule.case_sensitive,
        whole_word=rule.whole_word,
    )


def pronunciations_export(*, user: User, file_format: str) -> str:
    """The user's own rules as a PLS or CSV file (voices.pronunciation_files)."""
    own = PronunciationRule.objects.filter(owner=user).order_by("match")
    return rules_render([pronunciation_rule_value(rule) for rule in own], file_format=file_format)


def pronunciation_shares_for(*, user: User) -> QuerySet[PronunciationShare]:
    """The teams the user shares their dictionary with."""
    return PronunciationShare.objects.filter(owner=user).select_related("team").order_by("team__name")
