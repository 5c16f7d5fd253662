import asyncio
import logging
import uuid
from dataclasses import dataclass
from functools import cache

import redis
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from accounts.models import User
from billing.models import LedgerEntry, Wallet
from billing.pricing import CLONE_PRICE
from billing.selectors import wallet_for
from billing.services import credits_change, wallet_lock
from config.asyncdb import db_work
from config.text import name_clean
from engine.client import AsyncEngineClient, Audio, EngineClient, EngineError, EngineFailure
from engine.pool import NoEngineAvailable
from studio.audio import wav_from_pcm
from studio.engines import engine_pool
from studio.files import stored_files_delete_on_commit
from studio.ratelimit import clone_rate_limit_hit
from voices.builtin import BUILTIN_VOICES
from voices.models import Voice
from voices.reference import Reference, ReferenceRejected, reference_prepare
from voices.selectors import clones_count

logger = logging.getLogger(__name__)

PREVIEW_TEXT = "Hello! This is how I sound. I hope you like my voice."


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
                "description": builtin.description,
                "owner": None,
                "is_active": True,
            },
        )
        synced.append(voice)
    Voice.objects.filter(kind=Voice.Kind.BUILTIN).exclude(id__in=[v.id for v in synced]).update(is_active=False)
    return synced


# ---------- voice clones ----------


class CloneRefused(Exception):
    """A clone request that was not carried out; nothing was stored or charged."""

    def __init__(self, code: str, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


@dataclass
class CloneCreated:
    voice: Voice
    reference: Reference


_ENGINE_UNAVAILABLE = "The speech engine is unavailable right now. Please try again shortly."


async def clone_create(*, user: User, speaker_name: object, audio: bytes, consent: bool = True) -> CloneCreated:
    """Checks the request and the recording, has the engine encode it (awaited here: no thread
    waits), then stores the clone and charges for it in one transaction. Its preview is recorded
    afterwards by a worker. The reference is not kept unless VOICE_CLONE_KEEP_REFERENCE."""
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
    voice = Voice.objects.create(
        speaker_name=name,
        kind=Voice.Kind.CLONE,
        owner=user,
        # The engine speaks a clone from its profile alone.
        engine_voice="",
        gender=gender,
        description=f"Cloned from a {reference.speech_seconds:.1f} s recording",
        profile=profile,
    )
    credits_change(
        user=user, amount=-CLONE_PRICE, kind=LedgerEntry.Kind.CLONE, reason=f"Voice clone “{name}”", voice=voice
    )
    if settings.VOICE_CLONE_KEEP_REFERENCE:
        voice.reference.save(f"{voice.id}.wav", ContentFile(wav_from_pcm(reference.pcm)), save=True)
    transaction.on_commit(lambda: voice_preview_request(voice))
    return voice


def clone_delete(*, user: User, voice_id: uuid.UUID) -> bool:
    """Removes the user's clone at once; past generations keep their audio and the voice's name."""
    voice = Voice.objects.filter(id=voice_id, owner=user, kind=Voice.Kind.CLONE).first()
    if voice is None:
        return False
    voice.delete()  # its preview and reference go with it (voices.signals)
    return True


def _preview_speak(engine: EngineClient, *, voice: str | None = None, profile: dict | None = None) -> bytes:
    events = engine.synthesize(PREVIEW_TEXT, voice, profile=profile, max_seconds=8)
    return b"".join(event.pcm for event in events if isinstance(event, Audio))


def voice_preview_request(voice: Voice) -> None:
    """Asks a worker to record the voice's preview, once at a time."""
    from voices.tasks import voice_preview_task

    if _redis().set(f"{settings.REDIS_KEY_PREFIX}:voice-preview:{voice.id}", 1, nx=True, ex=60):
        voice_preview_task.delay(str(voice.id))


def voice_preview_make(*, voice_id: str) -> None:
    """The job: the engine speaks a short sentence in the voice, kept as its preview."""
    voice = Voice.objects.filter(id=voice_id).first()
    if voice is None or voice.preview:
        return
    pool = engine_pool()
    with pool.lease(pool.pick(voice=voice.engine_voice or None, profile=voice.profile)) as engine:
        pcm = _preview_speak(engine, voice=voice.engine_voice or None, profile=voice.profile)
    voice.preview.save(f"{voice.id}.wav", ContentFile(wav_from_pcm(pcm)), save=False)
    # Only the preview is written, and only to a voice that still exists: a clone deleted while its
    # preview was spoken stays deleted (a whole save() would insert it again).
    if not Voice.objects.filter(id=voice.id).update(preview=voice.preview.name):
        voice.preview.delete(save=False)


@cache
def _redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _redis() -> redis.Redis:
    return _redis_for(settings.REDIS_URL)
