"""Writes of the Studio: sessions and generations, for every caller (pages, API, tasks, admin)."""

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import ApiToken, User
from accounts.selectors import team_get_for_member
from billing.models import Hold
from billing.pricing import credits_format, speech_cost, speech_hold, speech_seconds_max
from billing.selectors import wallet_for_id
from billing.services import InsufficientCredits, hold_place, hold_settle
from core.audio import BYTES_PER_SECOND, PeaksBuilder, pcm_seconds, wav_from_pcm
from core.engines import engine_pool
from core.errors import ApplicationError
from core.ratelimit import generation_rate_limit_hit
from core.realtime import session_broadcast, sessions_access_check_on_commit, user_broadcast
from core.text import name_clean, text_storable, text_without_controls
from engine.client import Audio, Done, EngineError, EngineFailure, Progress, Verified
from engine.languages import LANGUAGE_NAMES, language_detect, language_normalize, languages_spoken
from engine.pool import NoEngineAvailable
from engine.protocol import verification_summary
from studio.dispatch import (
    Claim,
    dispatch_claim,
    dispatch_claimable,
    dispatch_enqueue,
    dispatch_release,
    dispatch_renew,
    dispatch_wait,
)
from studio.models import Generation, Session, SessionShare
from studio.relay import RelayWriter, relay_cancel_request
from studio.selectors import generation_state
from studio.tasks import generations_dispatch_task
from voices.models import Voice
from voices.selectors import voice_get_available, voice_languages

logger = logging.getLogger(__name__)

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


def _language_name(language: str) -> str:
    return f"{LANGUAGE_NAMES[language]} ({language})" if language in LANGUAGE_NAMES else repr(language)


def generation_language(*, text: str, voice: Voice, language: object = None) -> str:
    """The text's language as a primary tag: the one the request names ("ja-JP" -> "ja") or, when
    it names none, the text's script's. GenerationRefused when no engine speaks it, or the voice's
    engine does not (Joe and WORLD clones read English only)."""
    if language is None:
        tag = language_detect(text)
    else:
        tag = language_normalize(language)
        if tag is None:
            raise GenerationRefused(
                "VALIDATION_ERROR", "language must be a language tag such as 'en', 'en-US' or 'ja'."
            )
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
) -> Generation:
    """Validates a request, records it as queued and starts its job once the row is committed.
    Every caller (the Studio, the API, the legacy API) comes through here."""
    cleaned = generation_text_clean(text)
    voice = voice_get_available(user, str(voice_id)) if voice_id else None
    if voice is None:
        raise GenerationRefused("NOT_FOUND", "Voice not found: choose one of your available voices.")
    language = generation_language(text=cleaned, voice=voice, language=language)
    retry_after = generation_rate_limit_hit(user.id)
    if retry_after is not None:
        raise GenerationRefused(
            "TTS_RATE_LIMITED",
            f"Too many generation requests: the limit is {settings.TTS_RATE_LIMIT_PER_MINUTE} a minute. "
            f"Retry in {retry_after} s.",
            retry_after=retry_after,
        )

    seconds_max = speech_seconds_max(cleaned)
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
                language=language,
                temperature=temperature,
                verify=verify,
                max_seconds=seconds_max,
            )
            hold_place(user=user, generation=generation, amount=speech_hold(seconds_max))
            if session is not None:
                if session.title == DEFAULT_SESSION_TITLE:
                    session.title = cleaned[:60]
                session.save(update_fields=["title", "updated_at"])
                _broadcast_on_commit(generation)
            _enqueue_on_commit(generation)
    except InsufficientCredits as short:
        raise GenerationRefused(
            "INSUFFICIENT_CREDITS", f"You do not have enough credits to start this request. {short}"
        ) from None
    return generation


def generation_cancel(*, generation_id: uuid.UUID) -> None:
    """Stops a generation: one still queued never starts; a running one stops at its next chunk
    and keeps what it produced."""
    with transaction.atomic():
        queued = Generation.objects.select_for_update().filter(id=generation_id, status=Generation.Status.QUEUED)
        generation = queued.first()
        if generation is not None:
            generation.status = Generation.Status.CANCELLED
            generation.finished_at = timezone.now()
            generation.save(update_fields=["status", "finished_at"])
            hold_settle(generation=generation, cost=0)
            _broadcast_on_commit(generation)
            RelayWriter(generation.id).end(_end_data(generation))
            return
    relay_cancel_request(generation_id)


def _enqueue_on_commit(generation: Generation) -> None:
    def enqueue() -> None:
        order = generation.created_at.timestamp()
        if dispatch_enqueue(user_id=generation.user_id, generation_id=generation.id, order=order).runnable:
            generations_dispatch_task.delay()

    transaction.on_commit(enqueue)


# A worker takes turns for this long, then hands on to a fresh task (so no task runs for ever).
DISPATCH_TURN_SECONDS = 60.0
# With nothing to run, a worker process waits this long for new work before it returns to Celery.
DISPATCH_WAIT_SECONDS = 2.0


def generations_dispatch() -> int:
    """A worker's turn: runs the fairest queued generation (`studio.dispatch`), then the next, until
    none may run now and none comes within DISPATCH_WAIT_SECONDS. Returns how many it ran."""
    started = time.monotonic()
    ran = 0
    while time.monotonic() - started < DISPATCH_TURN_SECONDS:
        claim = dispatch_claim(lease_seconds=HEARTBEAT_STALE.total_seconds())
        if claim is None:
            if dispatch_wait(seconds=DISPATCH_WAIT_SECONDS):
                continue
            return ran
        try:
            generation_run(generation_id=claim.generation_id, claim=claim)
        except JobBusyElsewhere:
            continue  # its share stays counted for the worker that has it; the sweep watches that one
        except BaseException:
            dispatch_release(claim)
            raise
        dispatch_release(claim)
        ran += 1
    if dispatch_claimable():  # the turn is over, the work is not: a fresh task goes on with it
        generations_dispatch_task.delay()
    return ran


class JobBusyElsewhere(Exception):
    """Another worker shows life on this job."""


def generation_run(*, generation_id: uuid.UUID, claim: Claim | None = None) -> None:
    """The job: speaks the text on the engines, relaying progress and audio, then stores the WAV and
    settles the hold at what was produced. Delivered again after its worker died, it goes on from
    the audio already relayed; while another worker still shows life on it, JobBusyElsewhere."""
    with transaction.atomic():
        generation = (
            Generation.objects.select_for_update(of=("self",)).select_related("voice").filter(id=generation_id).first()
        )
        if generation is None or generation.is_finished:
            return
        if _alive_elsewhere(generation):
            raise JobBusyElsewhere(generation_id)
        generation.attempts += 1
        generation.status = Generation.Status.RUNNING
        generation.started_at = generation.started_at or timezone.now()
        generation.heartbeat_at = timezone.now()
        generation.save(update_fields=["attempts", "status", "started_at", "heartbeat_at"])
        _broadcast_on_commit(generation)

    relay = RelayWriter(generation.id)
    prior_pcm, prior_chunks = relay.audio_so_far()
    if generation.attempts > 1:
        logger.warning(
            "generation %s: attempt %d, going on after chunk %d", generation.id, generation.attempts, prior_chunks
        )
    if generation.deleted_at is not None:  # deleted while its worker was away: it ends, paid for what was made
        _generation_end(generation, relay, prior_pcm, cancelled=True)
        return
    if generation.attempts > MAX_ATTEMPTS:
        failure = ("TTS_PROVIDER_UNAVAILABLE", "The generation was interrupted too many times. Please try again.")
        _generation_end(generation, relay, prior_pcm, failure=failure)
        return
    if generation.voice is None:
        _generation_end(generation, relay, b"", failure=("NOT_FOUND", "The voice was deleted before it could speak."))
        return

    produced = _Produced(
        pcm=bytearray(prior_pcm),
        peaks=PeaksBuilder(settings.WAVEFORM_PEAKS_PER_SECOND),
        # The engine is told the limit; the worker holds it too, as the hold was priced from it.
        limit=int(generation.max_seconds * BYTES_PER_SECOND) // 2 * 2,
        chunks_done=prior_chunks,
        checks=_checks_recorded(generation, upto=prior_chunks),
    )
    produced.peaks.feed(prior_pcm)
    with _heartbeat(generation.id, claim):
        outcome = _speak(generation, relay, produced)
    cancelled = outcome == "cancelled"
    failure = outcome if isinstance(outcome, tuple) else None
    if not produced.pcm and not (failure or cancelled):
        failure = ("TTS_PROVIDER_UNAVAILABLE", "The engine produced no audio for this text.")
    produced.peaks.finish()
    generation.peaks = produced.peaks.peaks
    _generation_end(generation, relay, bytes(produced.pcm), failure=failure, cancelled=cancelled)


# A job taken this many times without ending is given up: something in it kills workers.
MAX_ATTEMPTS = 3
# A running job shows life every HEARTBEAT_EVERY; one silent for HEARTBEAT_STALE has lost its worker.
HEARTBEAT_EVERY = 5.0
HEARTBEAT_STALE = timedelta(seconds=20)
# A job no worker has taken after this long is sent again (its message may have been lost).
QUEUED_RESEND_AFTER = timedelta(seconds=60)
QUEUED_GIVE_UP_AFTER = timedelta(minutes=30)


def _alive_elsewhere(generation: Generation) -> bool:
    return (
        generation.status == Generation.Status.RUNNING
        and generation.heartbeat_at is not None
        and timezone.now() - generation.heartbeat_at < HEARTBEAT_STALE
    )


@contextmanager
def _heartbeat(generation_id: uuid.UUID, claim: Claim | None) -> Iterator[None]:
    """Beats for the job from a thread of its own, so a long chunk or a cold engine never looks
    like a dead worker, and keeps its place in the account's share."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(HEARTBEAT_EVERY):
                Generation.objects.filter(id=generation_id).update(heartbeat_at=timezone.now())
                if claim is not None:
                    dispatch_renew(claim, lease_seconds=HEARTBEAT_STALE.total_seconds())
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{generation_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def generations_sweep() -> dict[str, int]:
    """Run every few seconds (Celery beat): queues again the jobs whose worker died (they go on
    where they were, before the account's new work) and those lost from the queue (Redis
    restarted), ends those waiting too long, their holds settled, and wakes workers for what may
    run."""
    now = timezone.now()
    stale = Generation.objects.filter(status=Generation.Status.RUNNING, heartbeat_at__lt=now - HEARTBEAT_STALE)
    waiting = Generation.objects.filter(status=Generation.Status.QUEUED, created_at__lt=now - QUEUED_RESEND_AFTER)
    counts = {"resent": 0, "given_up": 0, "woken": 0}
    for generation in waiting.filter(created_at__lt=now - QUEUED_GIVE_UP_AFTER):
        _generation_end(
            generation,
            RelayWriter(generation.id),
            b"",
            failure=("TTS_PROVIDER_UNAVAILABLE", "No worker could take this generation. Please try again."),
        )
        counts["given_up"] += 1
    # Queuing is idempotent: what is still queued stays where it is; only what was lost is added.
    given_back = [(user_id, id_, 0.0) for user_id, id_ in stale.values_list("user_id", "id")]
    lost = [(user_id, id_, at.timestamp()) for user_id, id_, at in waiting.values_list("user_id", "id", "created_at")]
    for user_id, generation_id, order in given_back + lost:
        if dispatch_enqueue(user_id=user_id, generation_id=generation_id, order=order).added:
            counts["resent"] += 1
    deletions_complete()
    for _ in range(min(dispatch_claimable(), SWEEP_WAKE_MAX)):
        generations_dispatch_task.delay()
        counts["woken"] += 1
    if counts["resent"] or counts["given_up"]:
        logger.warning("sweep: %(resent)d jobs queued again (worker died, queue lost), %(given_up)d given up", counts)
    return counts


# The most tokens one sweep sends; each worker's turn goes on while work may run, so a few suffice.
SWEEP_WAKE_MAX = 16


@dataclass
class _Produced:
    """The audio a job has so far: whole text chunks only, so another engine can go on from there."""

    pcm: bytearray
    peaks: PeaksBuilder
    limit: int
    chunks_done: int = 0
    # With verify: each chunk's check by chunk number (a chunk spoken again on another engine is
    # checked again, and its new check replaces the old).
    checks: dict[int, Verified] = field(default_factory=dict)


_UNAVAILABLE = ("TTS_PROVIDER_UNAVAILABLE", "The speech engine is unavailable right now. Please try again shortly.")


def _speak(generation: Generation, relay: RelayWriter, produced: _Produced) -> str | tuple[str, str]:
    """Streams the text from the engines, chunk by chunk. An engine that fails is taken out and the
    text goes on, from its first unfinished chunk, on another. Returns "done", "cancelled" or a
    failure (code, message)."""
    pool = engine_pool()
    tried: set[str] = set()
    while True:
        try:
            engine = pool.pick(
                avoid=tried, voice=generation.voice.engine_voice or None, profile=generation.voice.profile
            )
        except NoEngineAvailable:
            return _UNAVAILABLE
        pending = bytearray()  # the audio of the chunk under way
        remaining = generation.max_seconds - pcm_seconds(len(produced.pcm))
        try:
            with pool.lease(engine) as client:
                events = client.synthesize(
                    generation.text,
                    generation.voice.engine_voice,
                    temperature=generation.temperature,
                    max_seconds=max(remaining, 0.001),
                    profile=generation.voice.profile,
                    start_chunk=produced.chunks_done,
                    tenant=f"account:{generation.user_id}",
                    language=generation.language or None,
                    verify=generation.verify,
                )
                with closing(events):
                    for event in events:
                        if isinstance(event, Progress):
                            if event.chunks:
                                _chunks_complete(generation, relay, produced, pending, event.chunk - 1)
                                generation.chunk, generation.chunks = event.chunk, event.chunks
                            generation.stage = event.stage
                            relay.progress(_progress_data(generation))
                            _progress_save(generation, new_peaks=[], peaks_offset=len(produced.peaks.peaks))
                        elif isinstance(event, Audio):
                            pending.extend(event.pcm)
                        elif isinstance(event, Verified):
                            produced.checks[event.chunk] = event
                        elif isinstance(event, Done):
                            _chunks_complete(generation, relay, produced, pending, generation.chunks)
                            return "done"
                        if relay.cancel_requested():
                            return "cancelled"
        except EngineError as error:
            if error.code != "synthesis_failed":
                logger.warning("generation %s: engine refused: %s %s", generation.id, error.code, error.message)
                return ("VALIDATION_ERROR", f"The engine could not speak this text: {error.message}")
            logger.warning("generation %s: engine %s failed: %s", generation.id, engine.url, error.message)
        except EngineFailure as error:
            logger.warning("generation %s: engine %s unavailable: %s", generation.id, engine.url, error)
        pool.mark_down(engine.url)
        tried.add(engine.url)


def _chunks_complete(
    generation: Generation, relay: RelayWriter, produced: _Produced, pending: bytearray, chunks_done: int
) -> None:
    """The chunks before `chunks_done` are whole: their audio goes to the listeners and is kept."""
    if chunks_done <= produced.chunks_done:
        return
    produced.chunks_done = chunks_done
    if generation.verify:
        # Stored before the audio is relayed: a job going on after its worker died finds the check
        # of every chunk the relay has.
        generation.verification = _verification(produced.checks, upto=chunks_done)
        Generation.objects.filter(id=generation.id).update(verification=generation.verification)
    audio = bytes(pending[: max(0, produced.limit - len(produced.pcm))])
    pending.clear()
    if not audio:
        return
    relay.audio(audio, chunks_done=chunks_done)
    offset = len(produced.peaks.peaks)
    new_peaks = produced.peaks.feed(audio)
    produced.pcm.extend(audio)
    generation.seconds = pcm_seconds(len(produced.pcm))
    generation.peaks = produced.peaks.peaks
    _progress_save(generation, new_peaks=new_peaks, peaks_offset=offset)


def _verification(checks: dict[int, Verified], *, upto: int) -> dict:
    """What the generation records of its check: the chunks kept so far (up to `upto`)."""
    kept = [checks[i] for i in sorted(checks) if i <= upto]
    return {**verification_summary(kept), "chunks": [asdict(check) for check in kept]}


def _checks_recorded(generation: Generation, *, upto: int) -> dict[int, Verified]:
    """The checks a job that died recorded for the chunks already kept (a job going on from them)."""
    if not generation.verify or not generation.verification:
        return {}
    checks = (Verified(**chunk) for chunk in generation.verification.get("chunks", []))
    return {check.chunk: check for check in checks if check.chunk <= upto}


def _generation_end(
    generation: Generation,
    relay: RelayWriter,
    pcm: bytes,
    *,
    failure: tuple[str, str] | None = None,
    cancelled: bool = False,
) -> None:
    """Stores what was produced (also the part before a failure or a cancel, which the caller has
    heard and pays for), settles the hold, and tells the page and the API stream."""
    if failure:
        generation.status = Generation.Status.FAILED
        generation.error_code, generation.error = failure[0], failure[1][:300]
    else:
        generation.status = Generation.Status.CANCELLED if cancelled else Generation.Status.DONE
    # A whole-file delivery (tts_non_stream, legacy) that did not finish delivered nothing: it keeps
    # no audio and costs nothing.
    if generation.status != Generation.Status.DONE and generation.delivery == Generation.Delivery.WHOLE:
        pcm = b""
    if pcm:
        wav = ContentFile(wav_from_pcm(pcm))
        generation.audio.save(f"{generation.user_id}/{generation.id}.wav", wav, save=False)
    generation.seconds = pcm_seconds(len(pcm))
    generation.stage = Generation.Stage.NONE
    generation.finished_at = timezone.now()
    with transaction.atomic():
        # Locked: a delete either came first (the generation goes once this commits) or waits for it.
        row = Generation.objects.select_for_update().filter(id=generation.id).values_list("deleted_at").first()
        if row is None:  # removed under the job by something that bypassed the services: nothing to keep
            logger.warning("generation %s: its row is gone; its audio is discarded", generation.id)
            generation.audio.delete(save=False)
            return
        generation.deleted_at = row[0]
        generation.cost = hold_settle(generation=generation, cost=speech_cost(len(pcm)))
        generation.save(
            update_fields=[
                "audio",
                "peaks",
                "seconds",
                "cost",
                "status",
                "stage",
                "error_code",
                "error",
                "finished_at",
                "verification",
            ]
        )
        # The API's caller waits for the end; the pages' broadcasts can come after it.
        end = _end_data(generation)
        transaction.on_commit(lambda: relay.end(end))
        _broadcast_on_commit(generation)
        _wallet_broadcast_on_commit(generation.user_id)
    if generation.deleted_at is not None:
        deletions_complete(generation_ids=[generation.id])


def _end_data(generation: Generation) -> dict:
    return {
        "status": generation.status,
        "seconds": generation.seconds,
        "error_code": generation.error_code,
        "error": generation.error,
        "cost": generation.cost,
        "verification": _verification_public(generation.verification),
    }


def _verification_public(verification: dict | None) -> dict | None:
    """The check without its per-chunk detail (for the API's callers)."""
    if verification is None:
        return None
    return {key: value for key, value in verification.items() if key != "chunks"}


def _progress_data(generation: Generation) -> dict:
    return {
        "stage": generation.stage,
        "chunk": generation.chunk,
        "chunks": generation.chunks,
        "seconds": round(generation.seconds, 3),
    }


def _progress_save(generation: Generation, *, new_peaks: list[float], peaks_offset: int) -> None:
    generation.heartbeat_at = timezone.now()
    generation.save(update_fields=["stage", "chunk", "chunks", "seconds", "peaks", "heartbeat_at", "verification"])
    if generation.session_id is None or Generation.objects.filter(id=generation.id, deleted_at__isnull=False).exists():
        return  # a deleted one is gone from the pages; it only runs on to its next chunk
    session_broadcast(
        generation.session_id,
        {
            "type": "generation.update",
            "generation": generation_state(generation, with_peaks=False),
            "generated_by": generation.user_id,
            "peaks": new_peaks,
            "peaks_offset": peaks_offset,
        },
    )


def _wallet_broadcast_on_commit(user_id: int) -> None:
    def send() -> None:
        wallet = wallet_for_id(user_id)
        user_broadcast(
            user_id,
            {"type": "wallet.update", "balance": wallet.balance, "balance_credits": credits_format(wallet.balance)},
        )

    transaction.on_commit(send)


def _broadcast_on_commit(generation: Generation) -> None:
    if generation.session_id is None or generation.deleted_at is not None:
        return
    # Each socket adds what its viewer may do with it (studio.consumers), from `generated_by`.
    event = {
        "type": "generation.update",
        "generation": generation_state(generation, with_peaks=generation.is_finished),
        "generated_by": generation.user_id,
    }
    transaction.on_commit(lambda: session_broadcast(generation.session_id, event))


# ---------- sessions: rename, delete, share ----------


def session_rename(*, session: Session, title: str) -> Session:
    title = name_clean(title, max_length=120)
    if not title:
        raise GenerationRefused("VALIDATION_ERROR", "A session needs a name of 1 to 120 characters.")
    session.title = title
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


def deletions_complete(*, generation_ids: list[uuid.UUID] | None = None) -> int:
    """Carries deletions through: cancels the deleted generations still under way (a queued one ends
    at once, settled at 0; a running one stops at its next chunk), removes those that have ended and
    settled, with their audio, then the deleted sessions left empty. Returns how many it removed.
    A job's end runs it for its own generation; the sweep runs it for all."""
    deleted = Generation.objects.filter(deleted_at__isnull=False)
    if generation_ids is not None:
        deleted = deleted.filter(id__in=generation_ids)
    for generation_id in deleted.exclude(status__in=Generation.FINISHED).values_list("id", flat=True):
        generation_cancel(generation_id=generation_id)
    settled = deleted.filter(status__in=Generation.FINISHED).exclude(
        Exists(Hold.objects.filter(generation=OuterRef("pk"), settled_at__isnull=True))
    )
    removed = 0
    with transaction.atomic():
        # A row locked by a job that is ending it is skipped: that job calls this once it has ended.
        # Their audio goes once the rows are gone (studio.signals).
        for generation in settled.select_for_update(skip_locked=True).only("id", "audio"):
            generation.delete()
            removed += 1
        Session.objects.filter(deleted_at__isnull=False, generations__isnull=True).delete()
    return removed


def session_share(*, session: Session, by: User, team_id: object, role: str) -> SessionShare:
    team = team_get_for_member(by, team_id)
    if team is None:
        raise GenerationRefused("NOT_FOUND", "No such team of yours.")
    if role not in SessionShare.Role.values:
        raise GenerationRefused("VALIDATION_ERROR", "Share as viewer or editor.")
    share, _ = SessionShare.objects.update_or_create(session=session, team=team, defaults={"role": role})
    return share


def session_unshare(*, session: Session, share_id: object) -> None:
    SessionShare.objects.filter(session=session, id=share_id).delete()


# ---------- generations: delete, again ----------


def generation_delete(*, generation: Generation) -> None:
    """Deletes a generation: hidden at once (the session's pages are told), cancelled if it is under
    way (its hold settles for the audio it made), and removed with its audio once it has ended."""
    Generation.objects.filter(id=generation.id).update(deleted_at=timezone.now())
    session_id, generation_id = generation.session_id, str(generation.id)
    if session_id:
        transaction.on_commit(
            lambda: session_broadcast(session_id, {"type": "generation.deleted", "generation_id": generation_id})
        )
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
    )
