"""Writes of the Studio: sessions and generations, for every caller (pages, API, admin). A
generation is validated, written and handed over here; the worker's side is studio.job."""

import re
import uuid

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.selectors import team_get_for_member
from billing.pricing import script_seconds_max, speech_hold
from billing.services import InsufficientCredits, hold_place
from core.audio import pcm_from_wav
from core.audio_formats import AUDIO_FORMATS, encode_whole
from core.errors import ApplicationError
from core.markup import MarkupError, Script, markup_parse, script_said, script_to_json
from core.normalize import script_normalize
from core.pronunciation import script_pronounce
from core.ratelimit import generation_rate_limit_hit
from core.realtime import sessions_access_check_on_commit
from core.text import name_clean, text_storable, text_without_controls
from engine.languages import LANGUAGE_NAMES, language_detect, language_normalize, languages_spoken
from engine.protocol import MAX_SPEED, MIN_SPEED
from studio.events import generation_broadcast_on_commit, generation_deleted_broadcast_on_commit
from studio.job.claim import account_turn_open
from studio.job.end import deletions_complete, job_stop
from studio.models import Generation, GenerationRendition, Session, SessionShare
from studio.tasks import generations_bell_on_commit
from voices.models import Voice
from voices.selectors import pronunciation_rules_for_user, voice_get_available, voice_languages

DEFAULT_SESSION_TITLE = "Untitled session"
_SPEAKABLE = re.compile(r"\w")


class GenerationRefused(ApplicationError):
    """A request the service will not run; nothing was stored."""


def session_create(*, owner: User, title: str = DEFAULT_SESSION_TITLE) -> Session:
    return Session.objects.create(owner=owner, title=title.strip()[:120] or DEFAULT_SESSION_TITLE)


def session_latest_or_create(*, owner: User) -> Session:
    live = Session.objects.filter(owner=owner, deleted_at__isnull=True)
    return live.order_by("-updated_at").first() or session_create(owner=owner)


def generation_text_clean(text: object) -> str:
    """The text as it will be spoken, or GenerationRefused saying what is wrong with it."""
    if not isinstance(text, str):
        raise GenerationRefused("VALIDATION_ERROR", "text must be a string.")
    if not text_storable(text.replace("\x00", "")):
        raise GenerationRefused("VALIDATION_ERROR", "text holds characters that are not valid Unicode.")
    cleaned = text_without_controls(text).strip()
    if not cleaned:
        raise GenerationRefused("VALIDATION_ERROR", "text is empty: type something to speak.")
    limit = settings.TTS_MAX_TEXT_CHARS
    if len(cleaned) > limit:
        raise GenerationRefused(
            "VALIDATION_ERROR", f"text is {len(cleaned):,} characters long; the limit is {limit:,}."
        )
    if not _SPEAKABLE.search(cleaned):
        raise GenerationRefused("VALIDATION_ERROR", "text has no words to speak.")
    return cleaned


def generation_script_parse(*, text: str, typed: str) -> Script:
    """The input (``text``, cleaned from what was ``typed``) read as a script (plain text, or the
    SSML subset: core.markup), or GenerationRefused naming the position of bad markup in what
    was typed."""
    try:
        script = markup_parse(text)
    except MarkupError as error:
        # The cleaning stripped the input's leading space: count it back, so the position is
        # the one the person sees.
        shown = text_without_controls(typed)
        stripped = shown[: len(shown) - len(shown.lstrip())]
        line, column = error.line + stripped.count("\n"), error.column
        if error.line == 1:
            column += len(stripped) - (stripped.rfind("\n") + 1)
        raise GenerationRefused(
            "VALIDATION_ERROR", f"Markup error at line {line}, column {column}: {error.reason}"
        ) from None
    if not _SPEAKABLE.search(script_said(script)):
        raise GenerationRefused("VALIDATION_ERROR", "text has no words to speak.")
    return script


def generation_script(*, user: User, script: Script, language: str) -> Script:
    """The script as it will be spoken: the account's pronunciation rules, then written forms
    (numbers, dates, ...) spelled as said."""
    pronounced = script_pronounce(script, pronunciation_rules_for_user(user=user))
    return script_normalize(pronounced, language=language)


def _language_name(language: str) -> str:
    return f"{LANGUAGE_NAMES[language]} ({language})" if language in LANGUAGE_NAMES else repr(language)


def generation_language(*, text: str, voice: Voice, language: object = None) -> str:
    """The text's language as a primary tag: the one the request names ("ja-JP" -> "ja") or, when
    it names none, the text's script's. GenerationRefused when no engine speaks it, or the voice's
    engine does not (Joe and WORLD clones read English only)."""
    tag = language_detect(text) if language is None else language_normalize(language)
    if tag is None:
        raise GenerationRefused("VALIDATION_ERROR", "language must be a language tag such as 'en', 'en-US' or 'ja'.")
    spoken = languages_spoken()
    if tag not in spoken:
        names = ", ".join(_language_name(lang) for lang in spoken)
        raise GenerationRefused(
            "VALIDATION_ERROR", f"No voice speaks {_language_name(tag)}; the languages are {names}."
        )
    if tag not in voice_languages(voice):
        readable = " and ".join(LANGUAGE_NAMES.get(lang, lang) for lang in voice_languages(voice)) or "no language"
        raise GenerationRefused(
            "VALIDATION_ERROR",
            f"{voice.speaker_name} reads {readable} only, not {LANGUAGE_NAMES[tag]}: choose a voice that speaks it.",
        )
    return tag


def generation_speed_clean(speed: object) -> float:
    """The speaking rate as a float in MIN_SPEED..MAX_SPEED, or GenerationRefused naming the field."""
    if isinstance(speed, bool) or not isinstance(speed, int | float) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise GenerationRefused("VALIDATION_ERROR", f"speed must be a number from {MIN_SPEED} to {MAX_SPEED}.")
    return float(speed)


def generation_response_format_clean(response_format: object) -> str:
    """One of core.audio_formats' names, or GenerationRefused naming the field and the choices."""
    if response_format not in AUDIO_FORMATS:
        raise GenerationRefused("VALIDATION_ERROR", f"response_format must be one of {', '.join(AUDIO_FORMATS)}.")
    return str(response_format)


def generation_create(
    *,
    user: User,
    text: object,
    voice_id: object,
    session: Session | None = None,
    source: str = Generation.Source.STUDIO,
    delivery: str = Generation.Delivery.PROGRESSIVE,
    api_token: ApiToken | None = None,
    temperature: float | None = None,
    language: object = None,
    verify: bool = False,
    speed: object = 1.0,
    response_format: object = "wav",
    instructions: str = "",
) -> Generation:
    """Validates a request, records it as queued and starts its job once the row is committed.
    Every caller (the Studio, the API, the legacy API) comes through here. ``speed`` is the
    speaking rate (0.25..4.0; billed by the seconds it makes, so slower costs more);
    ``response_format`` the format the caller will be answered in."""
    cleaned = generation_text_clean(text)
    parsed = generation_script_parse(text=cleaned, typed=str(text))
    speed = generation_speed_clean(speed)
    response_format = generation_response_format_clean(response_format)
    voice = voice_get_available(user, str(voice_id)) if voice_id else None
    if voice is None:
        raise GenerationRefused("NOT_FOUND", "Voice not found: choose one of your available voices.")
    said = script_said(parsed)
    language = generation_language(text=said, voice=voice, language=language)
    script = generation_script(user=user, script=parsed, language=language)
    retry_after = generation_rate_limit_hit(user.id)
    if retry_after is not None:
        raise GenerationRefused(
            "TTS_RATE_LIMITED",
            f"Too many generation requests: the limit is {settings.TTS_RATE_LIMIT_PER_MINUTE} a minute. "
            f"Retry in {retry_after} s.",
            retry_after=retry_after,
        )

    # The longest the script may take at the voice's pace, slowed (or hastened) by the speed and
    # its pieces' rates, with its pauses: what the engine may make and the hold is priced from.
    seconds_max = script_seconds_max(script, speed=speed)
    try:
        with transaction.atomic():
            # Locked, so the session is not deleted under the new generation (session_delete waits).
            if session is not None and not Session.objects.select_for_update().filter(
                id=session.id, deleted_at__isnull=True
            ):
                raise GenerationRefused("NOT_FOUND", "This session was deleted.")
            generation = Generation.objects.create(
                user=user,
                session=session,
                source=source,
                delivery=delivery,
                api_token=api_token,
                voice=voice,
                voice_name=voice.speaker_name,
                text=cleaned,
                script=script_to_json(script),
                language=language,
                temperature=temperature,
                speed=speed,
                response_format=response_format,
                verify=verify,
                instructions=instructions,
                max_seconds=seconds_max,
            )
            hold_place(user=user, generation=generation, amount=speech_hold(seconds_max))
            if session is not None:
                if session.title == DEFAULT_SESSION_TITLE:
                    session.title = said[:60]
                session.save(update_fields=["title", "updated_at"])
                generation_broadcast_on_commit(generation)
            # Its account's place in the turns (made once), then the bell once the row is committed.
            account_turn_open(user_id=user.id)
            generations_bell_on_commit(user_id=user.id)
    except InsufficientCredits as short:
        raise GenerationRefused(
            "INSUFFICIENT_CREDITS", f"You do not have enough credits to start this request. {short}"
        ) from None
    return generation


def generation_cancel(*, generation_id: uuid.UUID) -> None:
    """Stops a generation: one still queued never starts; a running one stops at its next chunk
    and keeps what it produced."""
    job_stop(generation_id=generation_id)


def generation_rendition_get_or_create(*, generation: Generation, format_name: str) -> GenerationRendition:
    """The generation's audio in ``format_name`` (one of core.audio_formats'), encoded from its WAV
    on the first download and kept, so no later download encodes it again. Two first downloads at
    once may both encode; the unique constraint keeps one, and the other's file is removed."""
    existing = generation.renditions.filter(format=format_name).first()
    if existing is not None:
        return existing
    audio_format = AUDIO_FORMATS[format_name]
    with generation.audio.open("rb") as stored:
        encoded = encode_whole(pcm_from_wav(stored.read()), audio_format)
    rendition = GenerationRendition(generation=generation, format=format_name)
    name = f"{generation.user_id}/{generation.id}.{audio_format.extension}"
    rendition.file.save(name, ContentFile(encoded), save=False)
    try:
        with transaction.atomic():
            rendition.save()
    except IntegrityError:  # the other first download kept its own
        rendition.file.delete(save=False)
        return generation.renditions.get(format=format_name)
    return rendition


# ---------- sessions: rename, delete, share ----------


def session_rename(*, session: Session, title: str) -> Session:
    cleaned = name_clean(title, max_length=120)
    if not cleaned:
        raise GenerationRefused("VALIDATION_ERROR", "A session needs a name of 1 to 120 characters.")
    session.title = cleaned
    session.save(update_fields=["title", "updated_at"])
    return session


def session_delete(*, session: Session) -> None:
    """Deletes the session: hidden at once from every page and selector, its unfinished generations
    cancelled (each settles its hold for the audio it made), and its rows and audio removed as soon
    as every generation in it has ended (now, at the end of its job, or by the sweep)."""
    now = timezone.now()
    with transaction.atomic():
        Session.objects.filter(id=session.id).update(deleted_at=now)
        session.generations.filter(deleted_at__isnull=True).update(deleted_at=now)
        # Its sockets close now, not once its row goes (after the work under way in it has ended).
        sessions_access_check_on_commit([session.id])
    deletions_complete()


def session_share(*, session: Session, by: User, team_id: object, role: str) -> SessionShare:
    team = team_get_for_member(by, team_id)
    if team is None:
        raise GenerationRefused("NOT_FOUND", "No such team of yours.")
    if role not in SessionShare.Role.values:
        raise GenerationRefused("VALIDATION_ERROR", "Share as viewer or editor.")
    share, _ = SessionShare.objects.update_or_create(session=session, team=team, defaults={"role": role})
    return share


def session_unshare(*, session: Session, share_id: object) -> None:
    SessionShare.objects.filter(session=session, id=share_id).delete()  # type: ignore[misc]  # a bad id matches nothing


# ---------- generations: delete, again ----------


def generation_delete(*, generation: Generation) -> None:
    """Deletes a generation: hidden at once (the session's pages are told), cancelled if it is under
    way (its hold settles for the audio it made), and removed with its audio once it has ended."""
    Generation.objects.filter(id=generation.id).update(deleted_at=timezone.now())
    generation_deleted_broadcast_on_commit(generation)
    deletions_complete(generation_ids=[generation.id])


def generation_again(*, generation: Generation, user: User) -> Generation:
    """The same text in the same voice (checked if it was), as a new generation by `user` (who pays
    for it)."""
    if generation.voice_id is None:
        raise GenerationRefused("NOT_FOUND", "That voice was deleted: choose another one.")
    return generation_create(
        user=user,
        session=generation.session,
        text=generation.text,
        voice_id=generation.voice_id,
        verify=generation.verify,
        speed=generation.speed,
    )
