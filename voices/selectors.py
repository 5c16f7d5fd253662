import uuid

from django.db.models import Q, QuerySet

from accounts.models import User
from core.pronunciation import PronunciationRule
from core.text import text_storable
from engine.languages import BACKEND_LANGUAGES, LANGUAGE_NAMES, language_normalize, profile_backend
from voices.builtin import BUILTIN_BY_NAME
from voices.models import Voice


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


def pronunciation_rules_for_user(*, user: User) -> list[PronunciationRule]:
    """The account's pronunciation rules, as generation_create applies them (core.pronunciation).
    (A hook for the pronunciation dictionary, issue 17: until it lands, none.)"""
    return []
