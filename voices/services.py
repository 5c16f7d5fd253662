import json
import uuid
from dataclasses import dataclass
from functools import cache

import redis
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import transaction

from accounts.models import User
from billing.models import LedgerEntry
from billing.pricing import CLONE_PRICE
from billing.selectors import wallet_for
from billing.services import InsufficientCredits, credits_change
from config.text import name_clean
from engine.client import Audio, EngineClient, EngineError, EngineFailure
from studio.audio import wav_from_pcm
from studio.engines import engine_pool
from voices.builtin import BUILTIN_VOICES
from voices.models import Voice
from voices.reference import Reference, ReferenceRejected, reference_prepare
from voices.selectors import clones_count

JOB_TTL_SECONDS = 600
PREVIEW_TEXT = "Hello! This is how I sound. I hope you like my voice."


@transaction.atomic
def voices_sync_builtin() -> list[Voice]:
    """Make the built-in voice rows match the catalogue; those no longer in it are deactivated."""
    synced = []
    for builtin in BUILTIN_VOICES:
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

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class CloneCreated:
    voice: Voice
    reference: Reference


def clone_create(*, user: User, speaker_name: object, audio: bytes, consent: bool = True) -> CloneCreated:
    """Checks the recording, has the engine encode it (a Celery job), then stores the clone and
    charges for it in one transaction. The reference is not kept unless VOICE_CLONE_KEEP_REFERENCE."""
    name = name_clean(speaker_name, min_length=2, max_length=80)
    if not name:
        raise CloneRefused("VALIDATION_ERROR", "speaker_name must be 2 to 80 characters.")
    if not consent:
        raise CloneRefused("VALIDATION_ERROR", "Confirm that you have the right to clone this voice.")
    used = clones_count(user)
    if used >= settings.VOICE_CLONE_LIMIT:
        raise CloneRefused("VALIDATION_ERROR", f"You have {used} voice clones, the most an account may have.")
    if wallet_for(user).available < CLONE_PRICE:
        raise CloneRefused("INSUFFICIENT_CREDITS", "A voice clone costs 0.025 credits; top up to create one.")
    try:
        reference = reference_prepare(audio)
    except ReferenceRejected as rejected:
        raise CloneRefused("VALIDATION_ERROR", str(rejected)) from None

    result = _clone_encode_on_worker(reference)
    preview_name = result.get("preview")
    try:
        with transaction.atomic():
            voice = Voice.objects.create(
                speaker_name=name,
                kind=Voice.Kind.CLONE,
                owner=user,
                # The engine speaks a clone from its profile alone.
                engine_voice="",
                gender=result["profile"].get("base", ""),
                description=f"Cloned from a {reference.speech_seconds:.1f} s recording",
                profile=result["profile"],
                preview=preview_name or "",
            )
            credits_change(
                user=user, amount=-CLONE_PRICE, kind=LedgerEntry.Kind.CLONE, reason=f"Voice clone “{name}”", voice=voice
            )
            if settings.VOICE_CLONE_KEEP_REFERENCE:
                voice.reference.save(f"{voice.id}.wav", ContentFile(wav_from_pcm(reference.pcm)), save=True)
    except InsufficientCredits:
        if preview_name:
            storages["audio"].delete(preview_name)
        raise CloneRefused("INSUFFICIENT_CREDITS", "A voice clone costs 0.025 credits; top up to create one.") from None
    return CloneCreated(voice=voice, reference=reference)


def clone_delete(*, user: User, voice_id: uuid.UUID) -> bool:
    """Removes the user's clone at once; past generations keep their audio and the voice's name."""
    voice = Voice.objects.filter(id=voice_id, owner=user, kind=Voice.Kind.CLONE).first()
    if voice is None:
        return False
    for stored in (voice.preview, voice.reference):
        if stored:
            stored.delete(save=False)
    voice.delete()
    return True


def _job_key(job_id: str, part: str) -> str:
    return f"{settings.REDIS_KEY_PREFIX}:clone-job:{job_id}:{part}"


def _clone_encode_on_worker(reference: Reference) -> dict:
    """Hands the recording to a Celery job through Redis (short-lived, never the database) and
    waits for the engine's profile."""
    from voices.tasks import clone_encode_task

    job_id = uuid.uuid4().hex
    client = _redis()
    client.set(_job_key(job_id, "reference"), reference.pcm, ex=JOB_TTL_SECONDS)
    clone_encode_task.delay(job_id)
    answer = client.blpop([_job_key(job_id, "result")], timeout=settings.VOICE_CLONE_ENCODE_TIMEOUT_SECONDS)
    client.delete(_job_key(job_id, "reference"))
    if answer is None:
        raise CloneRefused("TTS_PROVIDER_UNAVAILABLE", "Encoding the voice took too long. Please try again.")
    result = json.loads(answer[1])
    if "error" in result:
        raise CloneRefused(result["error"], result["message"])
    return result


def clone_encode(*, job_id: str) -> None:
    """The job: the engine encodes the recording and speaks a short preview with the new profile."""
    client = _redis()
    pcm = client.getdel(_job_key(job_id, "reference"))
    if pcm is None:
        return  # the request gave up and removed it
    pool = engine_pool()
    try:
        with pool.lease(pool.pick()) as engine:
            encoded = engine.encode_speaker(wav_from_pcm(pcm))
            preview = _preview_speak(engine, profile=encoded["profile"])
        preview_name = storages["audio"].save(f"previews/{job_id}.wav", ContentFile(wav_from_pcm(preview)))
        result = {"profile": encoded["profile"], "analysis": encoded.get("analysis", {}), "preview": preview_name}
    except EngineError as error:
        message = "There is not enough clear speech in the recording." if error.code == "no_speech" else error.message
        result = {"error": "VALIDATION_ERROR", "message": message}
    except EngineFailure:
        result = {"error": "TTS_PROVIDER_UNAVAILABLE", "message": "The speech engine is unavailable right now."}
    pipe = client.pipeline()
    pipe.rpush(_job_key(job_id, "result"), json.dumps(result))
    pipe.expire(_job_key(job_id, "result"), JOB_TTL_SECONDS)
    pipe.execute()


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
    with pool.lease(pool.pick()) as engine:
        pcm = _preview_speak(engine, voice=voice.engine_voice or None, profile=voice.profile)
    voice.preview.save(f"{voice.id}.wav", ContentFile(wav_from_pcm(pcm)), save=True)


@cache
def _redis_for(url: str, wait_seconds: int) -> redis.Redis:
    # redis-py's default socket timeout (5 s) would end a longer blocking wait.
    return redis.Redis.from_url(url, socket_timeout=wait_seconds + 10)


def _redis() -> redis.Redis:
    return _redis_for(settings.REDIS_URL, settings.VOICE_CLONE_ENCODE_TIMEOUT_SECONDS)
