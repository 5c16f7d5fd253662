"""The job: a worker's turn of claims (`generations_dispatch`), and one generation spoken on the
engines, its progress, peaks and audio relayed and recorded as it goes, under a heartbeat."""

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import timedelta

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.audio import BYTES_PER_SECOND, PeaksBuilder, pcm_seconds
from core.engines import engine_pool
from engine.client import Audio, Done, EngineError, EngineFailure, Progress, Verified, Words
from engine.pool import NoEngineAvailable
from engine.protocol import verification_summary
from studio.events import generation_broadcast_on_commit, generation_progress_broadcast
from studio.job.claim import generation_running_mark, job_claim, jobs_claimable, worker_name
from studio.job.end import job_end
from studio.job.wake import work_wait
from studio.models import Generation
from studio.relay import RelayWriter
from voices.models import Voice

logger = logging.getLogger(__name__)

# A worker takes turns for this long, then hands on to a fresh task (so no task runs for ever).
DISPATCH_TURN_SECONDS = 60.0
# With nothing to claim, a worker process waits this long for new work before it returns to Celery.
DISPATCH_WAIT_SECONDS = 2.0
# A job taken this many times without ending is given up: something in it kills workers.
MAX_ATTEMPTS = 3
# A running job shows life every HEARTBEAT_EVERY; one silent for HEARTBEAT_STALE has lost its
# worker, and the sweep gives it back (studio.job.sweep).
HEARTBEAT_EVERY = 5.0
HEARTBEAT_STALE = timedelta(seconds=20)


@dataclass(frozen=True)
class DispatchTurn:
    ran: int  # generations this turn ran
    more: bool  # the turn is over and work may still be claimed: a fresh bell goes on with it


def generations_dispatch() -> DispatchTurn:
    """A worker's turn: claims the fairest queued generation (studio.job.claim) and runs it, then the
    next, until none may run now and none comes within DISPATCH_WAIT_SECONDS (studio.job.wake), or
    the turn's time is up."""
    started = time.monotonic()
    worker = worker_name()
    ran = 0
    while time.monotonic() - started < DISPATCH_TURN_SECONDS:
        generation = job_claim(worker=worker)
        if generation is None:
            if work_wait(seconds=DISPATCH_WAIT_SECONDS):
                continue
            return DispatchTurn(ran=ran, more=False)
        _job_run(generation, worker=worker)
        ran += 1
    return DispatchTurn(ran=ran, more=jobs_claimable() > 0)


def generation_run(*, generation_id: uuid.UUID) -> None:
    """Runs this generation now in this process, if it is still queued, whatever the turns (tests,
    a shell)."""
    worker = worker_name()
    if generation_running_mark(generation_id=generation_id, worker=worker):
        _job_run(Generation.objects.select_related("voice").get(id=generation_id), worker=worker)


def _job_run(generation: Generation, *, worker: str) -> None:
    """The job, its row just claimed by `worker`: speaks the text on the engines, relaying progress
    and audio, then stores the WAV and settles the hold at what was produced. Taken again after its
    worker died, it goes on from the audio already relayed. The pages hear that it runs once the
    engine has answered (_speak), not before the engine is asked."""
    relay = RelayWriter(generation.id)
    # Only a job taken again (its worker died) has audio relayed before it.
    prior_pcm, prior_chunks = relay.audio_so_far() if generation.attempts > 1 else (b"", 0)
    if generation.attempts > 1:
        logger.warning(
            "generation %s: attempt %d, going on after chunk %d", generation.id, generation.attempts, prior_chunks
        )
    if generation.deleted_at is not None:  # deleted while its worker was away: it ends, paid for what was made
        job_end(generation, relay, prior_pcm, cancelled=True, worker=worker)
        return
    failure: tuple[str, str] | None
    if generation.attempts > MAX_ATTEMPTS:
        failure = ("TTS_PROVIDER_UNAVAILABLE", "The generation was interrupted too many times. Please try again.")
        job_end(generation, relay, prior_pcm, failure=failure, worker=worker)
        return
    if generation.voice is None:
        failure = ("NOT_FOUND", "The voice was deleted before it could speak.")
        job_end(generation, relay, b"", failure=failure, worker=worker)
        return

    produced = _Produced(
        pcm=bytearray(prior_pcm),
        peaks=PeaksBuilder(settings.WAVEFORM_PEAKS_PER_SECOND),
        # The engine is told the limit; the worker holds it too, as the hold was priced from it.
        limit=int(generation.max_seconds * BYTES_PER_SECOND) // 2 * 2,
        chunks_done=prior_chunks,
        checks=_checks_recorded(generation, upto=prior_chunks),
        words=_words_recorded(generation, upto=prior_chunks),
    )
    produced.peaks.feed(prior_pcm)
    # The beats go on through the end (the WAV stored, the hold settled): an end that waits for the
    # database (SQLite's one writer under a flood) must not look like a dead worker.
    with _heartbeat(generation.id, worker, produced.lost):
        try:
            outcome = _speak(generation, generation.voice, relay, produced)
        except SoftTimeLimitExceeded:  # the task's time limit (config.settings): ends it, paid for what was made
            logger.warning("generation %s: over its task's time limit", generation.id)
            outcome = ("TTS_PROVIDER_UNAVAILABLE", "The generation took too long. Please try a shorter text.")
        if outcome == "lost":
            logger.warning(
                "generation %s: given back while this worker ran it; left to the one that has it", generation.id
            )
            return
        cancelled = outcome == "cancelled"
        failure = outcome if isinstance(outcome, tuple) else None
        if not produced.pcm and not (failure or cancelled):
            failure = ("TTS_PROVIDER_UNAVAILABLE", "The engine produced no audio for this text.")
        produced.peaks.finish()
        generation.peaks = produced.peaks.peaks
        job_end(generation, relay, bytes(produced.pcm), failure=failure, cancelled=cancelled, worker=worker)


@contextmanager
def _heartbeat(generation_id: uuid.UUID, worker: str, lost: threading.Event) -> Iterator[None]:
    """Beats for the job from a thread of its own, so a long chunk or a cold engine never looks
    like a dead worker. A beat that finds the row no longer this worker's (given back by the sweep
    while this worker was stalled) sets `lost`: the job stops at its next event."""
    stop = threading.Event()

    def beat() -> None:
        try:
            while not stop.wait(HEARTBEAT_EVERY):
                mine = Generation.objects.filter(id=generation_id, status=Generation.Status.RUNNING, worker=worker)
                if not mine.update(heartbeat_at=timezone.now()):
                    lost.set()
                    return
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{generation_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


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
    # Each chunk's words (Generation.words' items), in the take's time, by chunk number.
    words: dict[int, list[dict]] = field(default_factory=dict)
    # Set by the heartbeat when the row is no longer this worker's.
    lost: threading.Event = field(default_factory=threading.Event)
    # Whether the pages were told the job runs (at the engine's first event).
    announced: bool = False


_UNAVAILABLE = ("TTS_PROVIDER_UNAVAILABLE", "The speech engine is unavailable right now. Please try again shortly.")


def _speak(generation: Generation, voice: Voice, relay: RelayWriter, produced: _Produced) -> str | tuple[str, str]:
    """Streams the text from the engines, chunk by chunk. An engine that fails is taken out and the
    text goes on, from its first unfinished chunk, on another. Returns "done", "cancelled" or a
    failure (code, message), or "lost" (the row was given back)."""
    if generation.chunks and produced.chunks_done >= generation.chunks:
        return "done"  # its worker died after the last chunk was relayed: only the end is left
    pool = engine_pool()
    tried: set[str] = set()
    while True:
        try:
            engine = pool.pick(avoid=tried, voice=voice.engine_voice or None, profile=voice.profile)
        except NoEngineAvailable:
            return _UNAVAILABLE
        pending = bytearray()  # the audio of the chunk under way
        # A stream's times start at its own audio: where the take is when it begins.
        start = pcm_seconds(len(produced.pcm))
        remaining = generation.max_seconds - start
        try:
            with pool.lease(engine) as client:
                events = client.synthesize(
                    generation.text,
                    voice.engine_voice,
                    temperature=generation.temperature,
                    speed=generation.speed,
                    max_seconds=max(remaining, 0.001),
                    profile=voice.profile,
                    start_chunk=produced.chunks_done,
                    tenant=f"account:{generation.user_id}",
                    language=generation.language or None,
                    verify=generation.verify,
                    # The script made when it was asked for (rows from before markup: their text).
                    script=generation.script or None,
                    # Heard only once done: no quick first phrase (one model call less). From the row,
                    # so a resumed job's engine numbers the chunks alike.
                    whole=generation.delivery == Generation.Delivery.WHOLE,
                )
                with closing(events):  # type: ignore[type-var]  # a generator, typed as an Iterator
                    for event in events:
                        if not produced.announced:
                            produced.announced = True
                            if not isinstance(event, Progress):  # a progress is broadcast below
                                generation_broadcast_on_commit(generation)
                        if isinstance(event, Audio):
                            pending.extend(event.pcm)
                        elif isinstance(event, Verified):
                            produced.checks[event.chunk] = event
                        elif isinstance(event, Words):
                            produced.words[event.chunk] = _words_json(event, offset=start)
                        elif isinstance(event, Done):
                            kept = _chunks_keep(generation, produced, pending, generation.chunks)
                            if kept is not None:
                                _progress_save(generation)  # stored before relayed, as below
                                if kept.pcm:
                                    relay.audio(kept.pcm, chunks_done=generation.chunks, words=kept.words)
                            return "done"
                        elif isinstance(event, Progress):
                            # A chunk's audio comes as a burst of frames just before the next
                            # chunk's progress: once a chunk, the row is saved (one UPDATE), then the
                            # audio and progress relayed and a stop looked for (one Redis round trip).
                            peaks_offset = len(produced.peaks.peaks)
                            kept = None
                            if event.chunks and event.chunk is not None:
                                kept = _chunks_keep(generation, produced, pending, event.chunk - 1)
                                generation.chunk, generation.chunks = event.chunk, event.chunks
                            generation.stage = event.stage
                            # Stored before relayed: a job going on after its worker died finds the
                            # check and the words of every chunk the relay has.
                            shown = _progress_save(generation)
                            stop = relay.chunk(
                                _progress_data(generation),
                                pcm=kept.pcm if kept else b"",
                                chunks_done=produced.chunks_done,
                                words=kept.words if kept else None,
                            )
                            if shown:
                                generation_progress_broadcast(
                                    generation, new_peaks=kept.peaks if kept else [], peaks_offset=peaks_offset
                                )
                            if produced.lost.is_set():
                                return "lost"
                            if stop:
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


@dataclass(frozen=True)
class _Kept:
    """Chunks just made whole: their audio (cut at the take's limit), words and waveform peaks."""

    pcm: bytes
    words: list[dict]
    peaks: list[float]


def _chunks_keep(generation: Generation, produced: _Produced, pending: bytearray, chunks_done: int) -> _Kept | None:
    """The chunks before `chunks_done` are whole: their audio, checks and words are kept, on
    `produced` and on the generation (its seconds, peaks, verification and words). Returns what
    they add, for the caller to store and then relay, or None if no chunk became whole."""
    if chunks_done <= produced.chunks_done:
        return None
    kept_before, produced.chunks_done = produced.chunks_done, chunks_done
    if generation.verify:
        generation.verification = _verification(produced.checks, upto=chunks_done)
    new_words: list[dict] = []
    if produced.words:
        generation.words = _words_kept(produced, upto=chunks_done)
        new_words = [w for w in generation.words if w["chunk"] > kept_before]
    audio = bytes(pending[: max(0, produced.limit - len(produced.pcm))])
    pending.clear()
    if not audio:
        return _Kept(b"", new_words, [])
    new_peaks = produced.peaks.feed(audio)
    produced.pcm.extend(audio)
    generation.seconds = pcm_seconds(len(produced.pcm))
    generation.peaks = produced.peaks.peaks
    return _Kept(audio, new_words, new_peaks)


def _verification(checks: dict[int, Verified], *, upto: int) -> dict:
    """What the generation records of its check: the chunks kept so far (up to `upto`). A short
    chunk's check comes with the next chunk's (engine/verify.py heard_alone); one whose next chunk
    another engine spoke, after a failover, was never checked and is recorded so."""
    last = max((i for i in checks if i <= upto), default=0)
    kept = [checks.get(i) or Verified(i, checked=False) for i in range(1, last + 1)]
    return {**verification_summary(kept), "chunks": [asdict(check) for check in kept]}


def _checks_recorded(generation: Generation, *, upto: int) -> dict[int, Verified]:
    """The checks a job that died recorded for the chunks already kept (a job going on from them)."""
    if not generation.verify or not generation.verification:
        return {}
    checks = (Verified(**chunk) for chunk in generation.verification.get("chunks", []))
    return {check.chunk: check for check in checks if check.chunk <= upto}


def _words_json(event: Words, *, offset: float) -> list[dict]:
    """A chunk's words as Generation.words keeps them, moved to the take's time."""
    return [
        {**replace(w, start=w.start + offset, end=w.end + offset).to_json(), "chunk": event.chunk} for w in event.words
    ]


def _words_kept(produced: _Produced, *, upto: int) -> list[dict]:
    """The words of the chunks kept so far (up to `upto`), begun within the take's limit."""
    limit = pcm_seconds(produced.limit)
    kept = [w for i in sorted(produced.words) if i <= upto for w in produced.words[i] if w["start"] < limit]
    return [{**w, "end": min(w["end"], round(limit, 3))} for w in kept]


def _words_recorded(generation: Generation, *, upto: int) -> dict[int, list[dict]]:
    """The words a job that died recorded for the chunks already kept (a job going on from them)."""
    recorded: dict[int, list[dict]] = {}
    for word in generation.words or []:
        if word["chunk"] <= upto:
            recorded.setdefault(word["chunk"], []).append(word)
    return recorded


def _progress_data(generation: Generation) -> dict:
    return {
        "stage": generation.stage,
        "chunk": generation.chunk,
        "chunks": generation.chunks,
        "seconds": round(generation.seconds, 3),
    }


# What a job's progress changes on its row, stored once a chunk.
_PROGRESS_FIELDS = ("stage", "chunk", "chunks", "seconds", "peaks", "heartbeat_at", "verification", "words")


def _progress_save(generation: Generation) -> bool:
    """Stores the job's progress, with its chunks' checks and words, in one UPDATE. Returns whether
    the generation is still shown: a deleted one is gone from the pages (and its row is left as it
    is); its job runs on to its next chunk, where the stop asked for by the delete is found."""
    generation.heartbeat_at = timezone.now()
    values = {name: getattr(generation, name) for name in _PROGRESS_FIELDS}
    return bool(Generation.objects.filter(id=generation.id, deleted_at__isnull=True).update(**values))
