import asyncio
import dataclasses
import io
import logging
import time
import uuid
import wave
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.selectors import team_get_for_member
from billing.models import LedgerEntry, Wallet
from billing.pricing import CLONE_PRICE
from billing.selectors import wallet_for
from billing.services import credits_change, wallet_lock
from core import pronunciation
from core.asyncdb import db_work
from core.audio import wav_from_pcm
from core.engines import engine_pool
from core.errors import ApplicationError
from core.files import stored_files_delete_on_commit
from core.ipa import ipa_clean, ipa_problem
from core.ratelimit import clone_rate_limit_hit
from core.realtime import user_broadcast
from core.redis import redis_client
from core.text import name_clean, text_storable
from engine.client import AsyncEngineClient, Audio, EngineClient, EngineError, EngineFailure, EngineUnavailable
from engine.languages import language_normalize
from engine.pool import NoEngineAvailable
from engine.profiles import KOKORO_KIND, profile_kind
from engine.protocol import SAMPLE_RATE
from voices.builtin import BUILTIN_VOICES
from voices.models import PronunciationRule, PronunciationShare, Voice
from voices.pronunciation_files import PronunciationFileError, rules_parse
from voices.reference import Reference, ReferenceRejected, reference_prepare
from voices.selectors import clones_count, voice_fit_state

if TYPE_CHECKING:
    import numpy as np

logger = logging.getLogger(__name__)

PREVIEW_TEXT = "Hello! This is how I sound. I hope you like my voice."
# A voice made for another language introduces itself in it.
PREVIEW_TEXTS = {"en": PREVIEW_TEXT, "ja": "こんにちは。これが私の声です。気に入っていただけると嬉しいです。"}


@transaction.atomic
def voices_sync_builtin() -> list[Voice]:
    """Make the built-in voice rows match the catalogue; those no longer in it are deactivated."""
    synced = []
    for builtin in BUILTIN_VOICES:
        # A built-in voice whose description changed sounds different now (another engine or
        # recipe): its old preview goes, and the next listen records a new one.
        stale = Voice.objects.filter(id=builtin.voice_id).exclude(description=builtin.description).first()
        if stale is not None and stale.preview:
            Voice.objects.filter(id=stale.id).update(preview="")
            stored_files_delete_on_commit(stale.preview)
        voice, _ = Voice.objects.update_or_create(
            id=builtin.voice_id,
            defaults={
                "speaker_name": builtin.speaker_name,
                "kind": Voice.Kind.BUILTIN,
                "engine_voice": builtin.speaker_name,
                "gender": builtin.gender,
                "language": builtin.language,
                "description": builtin.description,
                "owner": None,
                "is_active": True,
            },
        )
        synced.append(voice)
    Voice.objects.filter(kind=Voice.Kind.BUILTIN).exclude(id__in=[v.id for v in synced]).update(is_active=False)
    return synced


# ---------- voice clones ----------


class CloneRefused(ApplicationError):
    """A clone request that was not carried out; nothing was stored or charged."""


@dataclass
class CloneCreated:
    voice: Voice
    reference: Reference


_ENGINE_UNAVAILABLE = "The speech engine is unavailable right now. Please try again shortly."


async def clone_create(*, user: User, speaker_name: object, audio: bytes, consent: bool = True) -> CloneCreated:
    """Checks the request and the recording, has the engine encode it (awaited here: no thread
    waits), then stores the clone, usable at once from the engine's quick profile, and charges for
    it in one transaction. Its preview is recorded afterwards by a worker, and with VOICE_FIT its
    profile is improved in the background (voice_fit); the normalised reference is stored only
    until that fit ends (kept for good only with VOICE_CLONE_KEEP_REFERENCE)."""
    name = await db_work(_clone_admit)(user=user, speaker_name=speaker_name, consent=consent)
    try:
        # ffmpeg in a thread of its own: decoding holds no database connection and no request's thread.
        reference = await sync_to_async(reference_prepare, thread_sensitive=False)(audio)
    except ReferenceRejected as rejected:
        raise CloneRefused("VALIDATION_ERROR", str(rejected)) from None
    encoded = await _speaker_encode(reference)
    voice = await db_work(_clone_store)(
        user=user,
        name=name,
        reference=reference,
        profile=encoded["profile"],
        # The sex the engine heard (its quick profiles' base); a Kokoro profile does not name it.
        gender=encoded.get("analysis", {}).get("base") or encoded["profile"].get("base", ""),
    )
    return CloneCreated(voice=voice, reference=reference)


def _clone_admit(*, user: User, speaker_name: object, consent: bool) -> str:
    """Counts the attempt against the account's hourly limit (before anything can refuse it), then
    refuses what can be refused without the recording. Returns the clone's name."""
    retry_after = clone_rate_limit_hit(user.id)
    if retry_after is not None:
        raise CloneRefused(
            "TTS_RATE_LIMITED",
            f"Too many voice-clone attempts: the limit is {settings.VOICE_CLONE_RATE_LIMIT_PER_HOUR} an hour. "
            f"Retry in {retry_after} s.",
            retry_after=retry_after,
        )
    name = name_clean(speaker_name, min_length=2, max_length=80)
    if not name:
        raise CloneRefused("VALIDATION_ERROR", "speaker_name (or name) must be 2 to 80 characters.")
    if not consent:
        raise CloneRefused("VALIDATION_ERROR", "Confirm that you have the right to clone this voice.")
    _clone_room_check(user, wallet_for(user))
    return name


def _clone_room_check(user: User, wallet: Wallet) -> None:
    used = clones_count(user)
    if used >= settings.VOICE_CLONE_LIMIT:
        raise CloneRefused("VALIDATION_ERROR", f"You have {used} voice clones, the most an account may have.")
    if wallet.available < CLONE_PRICE:
        raise CloneRefused("INSUFFICIENT_CREDITS", "A voice clone costs 0.025 credits; top up to create one.")


async def _speaker_encode(reference: Reference) -> dict:
    """The engine's speaker profile for the recording, within VOICE_CLONE_ENCODE_TIMEOUT_SECONDS."""
    pool = engine_pool()
    try:
        # With several engines the first pick asks each for its load: not on the event loop.
        engine = await sync_to_async(pool.pick, thread_sensitive=False)(profile=True)
    except NoEngineAvailable:
        raise CloneRefused("TTS_PROVIDER_UNAVAILABLE", _ENGINE_UNAVAILABLE) from None
    timeout = settings.VOICE_CLONE_ENCODE_TIMEOUT_SECONDS
    try:
        with pool.lease(engine):
            # The deadline bounds the whole call; the client's own (per wait) is only a backstop.
            async with asyncio.timeout(timeout), AsyncEngineClient(engine.url, timeout=timeout + 5) as client:
                return await client.encode_speaker(wav_from_pcm(reference.pcm))
    except TimeoutError:
        raise CloneRefused("TTS_PROVIDER_UNAVAILABLE", "Encoding the voice took too long. Please try again.") from None
    except EngineError as error:
        message = "There is not enough clear speech in the recording." if error.code == "no_speech" else error.message
        raise CloneRefused("VALIDATION_ERROR", message) from None
    except EngineFailure as failure:
        logger.warning("voice clone: engine %s unavailable: %s", engine.url, failure)
        pool.mark_down(engine.url)
        raise CloneRefused("TTS_PROVIDER_UNAVAILABLE", _ENGINE_UNAVAILABLE) from None


@transaction.atomic
def _clone_store(*, user: User, name: str, reference: Reference, profile: dict, gender: str) -> Voice:
    # Under the wallet's row lock, this account's clone creations (and charges) take turns: the
    # count checked here cannot change before the insert, so concurrent uploads cannot pass the limit.
    _clone_room_check(user, wallet_lock(user))
    fit = _fit_wanted(profile)
    voice = Voice.objects.create(
        speaker_name=name,
        kind=Voice.Kind.CLONE,
        owner=user,
        # The engine speaks a clone from its profile alone.
        engine_voice="",
        gender=gender,
        description=f"Cloned from a {reference.speech_seconds:.1f} s recording",
        profile=profile,
        fit_status=Voice.FitStatus.QUEUED if fit else Voice.FitStatus.NONE,
    )
    # The only charge: the fit that follows is free.
    credits_change(
        user=user, amount=-CLONE_PRICE, kind=LedgerEntry.Kind.CLONE, reason=f"Voice clone “{name}”", voice=voice
    )
    if fit or settings.VOICE_CLONE_KEEP_REFERENCE:
        voice.reference.save(f"{voice.id}.wav", ContentFile(wav_from_pcm(reference.pcm)), save=True)
    transaction.on_commit(lambda: voice_preview_request(voice))
    if fit:
        transaction.on_commit(lambda: voice_fit_request(voice))
    return voice


def clone_delete(*, user: User, voice_id: uuid.UUID) -> bool:
    """Removes the user's clone at once; past generations keep their audio and the voice's name."""
    voice = Voice.objects.filter(id=voice_id, owner=user, kind=Voice.Kind.CLONE).first()
    if voice is None:
        return False
    voice.delete()  # its preview and reference go with it (voices.signals)
    return True


def _preview_speak(
    engine: EngineClient, *, voice: str | None = None, profile: dict | None = None, language: str = "en"
) -> bytes:
    language = language if language in PREVIEW_TEXTS else "en"
    events = engine.synthesize(PREVIEW_TEXTS[language], voice, profile=profile, max_seconds=8, language=language)
    return b"".join(event.pcm for event in events if isinstance(event, Audio))


def voice_preview_request(voice: Voice, *, again: bool = False) -> None:
    """Asks a worker to record the voice's preview, once at a time; `again` when its profile
    changed, so a request for the old one still in flight does not hold the new one back."""
    from voices.tasks import voice_preview_task

    key = f"{settings.REDIS_KEY_PREFIX}:voice-preview:{voice.id}"
    if again:
        redis_client().delete(key)
    if redis_client().set(key, 1, nx=True, ex=60):
        voice_preview_task.delay(str(voice.id))


def voice_preview_make(*, voice_id: str) -> None:
    """The job: the engine speaks a short sentence in the voice, kept as its preview."""
    while True:
        voice = Voice.objects.filter(id=voice_id).first()
        if voice is None or voice.preview:
            return
        pool = engine_pool()
        with pool.lease(pool.pick(voice=voice.engine_voice or None, profile=voice.profile)) as engine:
            pcm = _preview_speak(
                engine,
                voice=voice.engine_voice or None,
                profile=voice.profile,
                language=language_normalize(voice.language) or "en",
            )
        voice.preview.save(f"{voice.id}.wav", ContentFile(wav_from_pcm(pcm)), save=False)
        # Only the preview is written, and only to a voice that still exists with the profile it
        # was spoken in (the profile changes only when a fit ends): a clone deleted meanwhile stays
        # deleted (a whole save() would insert it again), and an improved one is spoken again.
        if Voice.objects.filter(id=voice.id, fit_status=voice.fit_status, preview="").update(
            preview=voice.preview.name
        ):
            return
        voice.preview.delete(save=False)


# ---------- the background fit ----------

# The engines' fair places (engine/slots.py) count every fit as one caller: a speech job, whose
# account holds no place, is served before a fit's next sentence.
FIT_TENANT = "voice-fit"
# A running fit touches its row at least this often; one silent for FIT_STALE lost its worker.
_FIT_TOUCH_SECONDS = 2.0
FIT_STALE = timedelta(seconds=120)
# A fit never taken (the queue was lost, or no fitter runs) ends after this; its reference goes.
FIT_QUEUED_GIVE_UP = timedelta(hours=24)
# The longest a sentence the fit has spoken may last.
_FIT_SPEAK_MAX_SECONDS = 30


class FitStopped(Exception):
    """The clone was deleted, or its fit swept as stale, while the fit ran: it stops."""


def _fit_wanted(profile: dict) -> bool:
    """Whether the clone is fitted: with VOICE_FIT, a Kokoro quick profile (the fit searches
    Kokoro's space; an engine without Kokoro makes WORLD profiles, which stay as they are)."""
    return settings.VOICE_FIT and profile_kind(profile) == KOKORO_KIND


def voice_fit_request(voice: Voice) -> None:
    """Queues the clone's fit on the fit queue, which only the fitter process consumes."""
    from voices.tasks import voice_fit_task

    voice_fit_task.apply_async((str(voice.id),), queue=settings.VOICE_FIT_QUEUE)


def _fit_event_on_commit(voice: Voice) -> None:
    """The fit's state, to the owner's open pages only (their account's group)."""
    event = {"type": "voice.fit", "voice": voice_fit_state(voice)}
    owner_id = voice.owner_id
    if owner_id is not None:  # a clone's; built-in voices have no owner and no fit
        transaction.on_commit(lambda: user_broadcast(owner_id, event))


class _FitWatch:
    """What the fit calls back: its progress (stored, sent live, and the fit's heartbeat) and its
    speech (through the engine pool). Each touch finds out whether the fit should go on."""

    def __init__(self, voice: Voice) -> None:
        self.voice = voice
        self.touched_at = 0.0
        self.percent_sent = -1

    def touch(self, fraction: float | None = None, *, force: bool = False) -> None:
        if fraction is not None:
            self.voice.fit_progress = min(1.0, max(self.voice.fit_progress, float(fraction)))
        percent = round(self.voice.fit_progress * 100)
        now = time.monotonic()
        if not force and percent == self.percent_sent and now - self.touched_at < _FIT_TOUCH_SECONDS:
            return
        self.touched_at = now
        # One query heartbeats and asks whether the fit is still wanted.
        if not Voice.objects.filter(id=self.voice.id, fit_status=Voice.FitStatus.FITTING).update(
            fit_progress=self.voice.fit_progress, fit_heartbeat_at=timezone.now()
        ):
            raise FitStopped(str(self.voice.id))
        if percent != self.percent_sent:
            self.percent_sent = percent
            _fit_event_on_commit(self.voice)

    def progress(self, fraction: float) -> None:
        self.touch(fraction)

    def speak(self, profile: dict, text: str) -> "tuple[np.ndarray, int]":
        import numpy as np  # the fitter's alone: the web and the workers never import numpy

        self.touch()
        pcm = _fit_speak(profile, text)
        self.touch()
        return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, SAMPLE_RATE


def _fit_speak(profile: dict, text: str) -> bytes:
    """One sentence in a trial profile, from an engine of the pool; an engine that fails is left
    for another. An engine's refusal (EngineError) is the fit's to handle."""
    pool = engine_pool()
    tried: set[str] = set()
    while True:
        engine = pool.pick(avoid=tried, profile=profile)
        try:
            with pool.lease(engine) as client:
                events = client.synthesize(text, profile=profile, tenant=FIT_TENANT, max_seconds=_FIT_SPEAK_MAX_SECONDS)
                return b"".join(event.pcm for event in events if isinstance(event, Audio))
        except EngineUnavailable as failure:
            logger.warning("voice fit: engine %s unavailable: %s", engine.url, failure)
            pool.mark_down(engine.url)
            tried.add(engine.url)


def _reference_samples(voice: Voice) -> "tuple[np.ndarray, int]":
    import numpy as np  # the fitter's alone: the web and the workers never import numpy

    with voice.reference.open("rb") as stored, wave.open(io.BytesIO(stored.read())) as wav:
        rate, pcm = wav.getframerate(), wav.readframes(wav.getnframes())
    return np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0, rate


def voice_fit(*, voice_id: str) -> str:
    """The fit job (the fitter's queue): searches for a profile more like the speaker than the
    quick one, within VOICE_FIT_SECONDS, and keeps it only if it scores better on sentences the
    search never heard. Free: the clone was charged when it was made. Whatever the end (improved,
    kept, failed, or the clone deleted meanwhile), the reference is deleted. Returns the status."""
    claimed = Voice.objects.filter(id=voice_id, fit_status=Voice.FitStatus.QUEUED).update(
        fit_status=Voice.FitStatus.FITTING, fit_progress=0.0, fit_heartbeat_at=timezone.now()
    )
    voice = Voice.objects.filter(id=voice_id).first()
    if not claimed or voice is None:
        # Deleted, swept, or a second delivery of a fit another worker runs.
        return voice.fit_status if voice is not None else "deleted"
    from voices.fitting import profile_fit  # numpy, torch and the measures: only the fitter loads them

    watch = _FitWatch(voice)
    try:
        watch.touch(0.0, force=True)
        reference, rate = _reference_samples(voice)
        result = profile_fit(
            reference=reference,
            sample_rate=rate,
            start=voice.profile or {},  # none: refused as any profile that is not Kokoro's
            speak=watch.speak,
            progress=watch.progress,
            budget_seconds=settings.VOICE_FIT_SECONDS,
        )
    except FitStopped:
        logger.info("voice fit %s stopped: the clone was deleted or its fit swept", voice_id)
        return "stopped"
    except Exception:
        logger.exception("voice fit %s failed; the clone keeps its quick profile", voice_id)
        return _fit_end(voice, status=Voice.FitStatus.FAILED)
    fitted = {"similarity": result.similarity, "word_error": result.word_error, "naturalness": result.naturalness}
    scores = {
        "start": dataclasses.asdict(result.start),
        "fitted": fitted,
        "evaluations": result.evaluations,
        "seconds": result.seconds,
    }
    return _fit_end(
        voice,
        status=Voice.FitStatus.IMPROVED if result.improved else Voice.FitStatus.KEPT,
        profile=result.profile if result.improved else None,
        scores=scores,
    )


@transaction.atomic
def _fit_end(
    voice: Voice,
    *,
    status: str,
    profile: dict | None = None,
    scores: dict | None = None,
    from_statuses: tuple[str, ...] = (Voice.FitStatus.FITTING,),
) -> str:
    """Ends a fit that is still on (not deleted, not swept meanwhile): the new profile if it won,
    the reference deleted, the owner told; an improved clone's preview is recorded again."""
    locked = Voice.objects.select_for_update().filter(id=voice.id, fit_status__in=from_statuses).first()
    if locked is None:
        return "stopped"
    old_preview, old_reference = locked.preview, locked.reference
    locked.fit_status, locked.fit_progress, locked.fit_finished_at = status, 1.0, timezone.now()
    locked.fit_scores, locked.fit_heartbeat_at = scores, None
    fields = ["fit_status", "fit_progress", "fit_finished_at", "fit_scores", "fit_heartbeat_at"]
    if not settings.VOICE_CLONE_KEEP_REFERENCE:
        locked.reference = ""
        fields.append("reference")
        stored_files_delete_on_commit(old_reference)
    if profile is not None:
        locked.profile, locked.preview = profile, ""
        fields += ["profile", "preview"]
        stored_files_delete_on_commit(old_preview)
        transaction.on_commit(lambda: voice_preview_request(locked, again=True))
    locked.save(update_fields=fields)
    _fit_event_on_commit(locked)
    return status


def voice_fits_sweep() -> dict[str, int]:
    """Run by the beat: fits whose worker died (no heartbeat for FIT_STALE) and fits never taken
    (queued past FIT_QUEUED_GIVE_UP) end as failed; the clone keeps its quick profile and its
    reference is deleted."""
    now = timezone.now()
    stale = Voice.objects.filter(fit_status=Voice.FitStatus.FITTING, fit_heartbeat_at__lt=now - FIT_STALE)
    lost = Voice.objects.filter(fit_status=Voice.FitStatus.QUEUED, created_at__lt=now - FIT_QUEUED_GIVE_UP)
    counts = {"stale": 0, "never_taken": 0}
    for key, voices, statuses in (
        ("stale", stale, (Voice.FitStatus.FITTING,)),
        ("never_taken", lost, (Voice.FitStatus.QUEUED,)),
    ):
        for voice in voices:
            if _fit_end(voice, status=Voice.FitStatus.FAILED, from_statuses=statuses) == Voice.FitStatus.FAILED:
                counts[key] += 1
    if any(counts.values()):
        logger.warning("voice fits sweep: %(stale)d stale fits ended, %(never_taken)d never taken", counts)
    return counts


# ---------- pronunciation dictionary ----------

PRONUNCIATION_RULES_LIMIT = 1000  # an account's own rules (its teams' come on top)


class PronunciationRefused(ApplicationError):
    """A rule, an import or a share that was not carried out; nothing was stored."""


def pronunciation_rule_clean(
    rule: pronunciation.PronunciationRule, *, where: str = ""
) -> pronunciation.PronunciationRule:
    """``rule`` as it is kept: the match and alias on one line without control characters, the IPA
    cleaned (core.ipa.ipa_clean); refused with a message that says what is wrong (and,
    in a file, ``where``)."""
    prefix = f"{where}: " if where else ""
    match = name_clean(rule.match, max_length=pronunciation.MATCH_MAX_CHARS)
    if match is None:
        raise PronunciationRefused(
            "VALIDATION_ERROR",
            f"{prefix}match must be a word or phrase of 1 to {pronunciation.MATCH_MAX_CHARS} characters.",
        )
    if not isinstance(rule.case_sensitive, bool) or not isinstance(rule.whole_word, bool):
        raise PronunciationRefused("VALIDATION_ERROR", f"{prefix}case_sensitive and whole_word are true or false.")
    if bool(rule.alias) == bool(rule.ipa):
        raise PronunciationRefused(
            "VALIDATION_ERROR", f"{prefix}give “{match}” either an alias (what to say) or its IPA, not both."
        )
    if rule.alias:
        alias = name_clean(rule.alias, max_length=pronunciation.SAYS_MAX_CHARS)
        if alias is None:
            raise PronunciationRefused(
                "VALIDATION_ERROR",
                f"{prefix}the alias must be 1 to {pronunciation.SAYS_MAX_CHARS} printable characters.",
            )
        return dataclasses.replace(rule, match=match, alias=alias, ipa=None)
    ipa = ipa_clean(rule.ipa) if isinstance(rule.ipa, str) and text_storable(rule.ipa) else ""
    problem = ipa_problem(ipa)
    if problem:
        raise PronunciationRefused("VALIDATION_ERROR", f"{prefix}{problem}")
    return dataclasses.replace(rule, match=match, alias=None, ipa=ipa)


def _rule_fields(rule: pronunciation.PronunciationRule) -> dict[str, object]:
    return {
        "alias": rule.alias or "",
        "ipa": rule.ipa or "",
        "case_sensitive": rule.case_sensitive,
        "whole_word": rule.whole_word,
    }


def _owner_lock(user: User) -> None:
    # One writer of an account's dictionary at a time, so the limit holds under concurrent requests.
    User.objects.select_for_update().filter(id=user.id).first()


def pronunciation_rule_create(*, user: User, rule: pronunciation.PronunciationRule) -> PronunciationRule:
    """A new rule of the user's dictionary; a second rule of the same match is refused."""
    cleaned = pronunciation_rule_clean(rule)
    with transaction.atomic():
        _owner_lock(user)
        rules = PronunciationRule.objects.filter(owner=user)
        if rules.filter(match=cleaned.match).exists():
            raise PronunciationRefused(
                "VALIDATION_ERROR", f"You already have a rule for “{cleaned.match}”: delete it to replace it."
            )
        if rules.count() >= PRONUNCIATION_RULES_LIMIT:
            raise PronunciationRefused(
                "VALIDATION_ERROR", f"A dictionary holds at most {PRONUNCIATION_RULES_LIMIT} rules: delete some first."
            )
        return PronunciationRule.objects.create(owner=user, match=cleaned.match, **_rule_fields(cleaned))


def pronunciation_rule_delete(*, user: User, rule_id: object) -> bool:
    """Deletes one of the user's own rules; False for anyone else's or none (callers answer 404)."""
    try:
        rule_uuid = uuid.UUID(str(rule_id))
    except ValueError:
        return False
    deleted, _ = PronunciationRule.objects.filter(owner=user, id=rule_uuid).delete()
    return deleted > 0


def pronunciations_import(*, user: User, content: bytes, file_format: str) -> int:
    """The rules of a PLS or CSV file added to the user's dictionary, a rule of a match it already
    has replacing that one. All or nothing: one bad rule refuses the file, naming it. Returns how
    many rules the file held."""
    try:
        parsed = rules_parse(content, file_format=file_format)
    except PronunciationFileError as error:
        raise PronunciationRefused("VALIDATION_ERROR", str(error)) from None
    if not parsed:
        raise PronunciationRefused("VALIDATION_ERROR", "The file holds no rules.")
    cleaned: dict[str, pronunciation.PronunciationRule] = {}
    for number, rule in enumerate(parsed, start=1):
        one = pronunciation_rule_clean(rule, where=f"Rule {number} (“{str(rule.match)[:40]}”)")
        cleaned[one.match] = one  # the last of a match in the file wins
    with transaction.atomic():
        _owner_lock(user)
        existing = set(
            PronunciationRule.objects.filter(owner=user, match__in=list(cleaned)).values_list("match", flat=True)
        )
        total = PronunciationRule.objects.filter(owner=user).count() + len(set(cleaned) - existing)
        if total > PRONUNCIATION_RULES_LIMIT:
            raise PronunciationRefused(
                "VALIDATION_ERROR",
                f"A dictionary holds at most {PRONUNCIATION_RULES_LIMIT} rules; with this file yours would "
                f"hold {total}.",
            )
        for match, rule in cleaned.items():
            PronunciationRule.objects.update_or_create(owner=user, match=match, defaults=_rule_fields(rule))
    return len(cleaned)


def pronunciations_share(*, user: User, team_id: object) -> PronunciationShare:
    """Shares the user's whole dictionary with a team of theirs."""
    team = team_get_for_member(user, team_id)
    if team is None:
        raise PronunciationRefused("NOT_FOUND", "No such team of yours.")
    share, _ = PronunciationShare.objects.get_or_create(owner=user, team=team)
    return share


def pronunciations_unshare(*, user: User, team_id: object) -> bool:
    try:
        team_uuid = uuid.UUID(str(team_id))
    except ValueError:
        return False
    deleted, _ = PronunciationShare.objects.filter(owner=user, team_id=team_uuid).delete()
    return deleted > 0
