"""The engine's HTTP service (Starlette). See ``engine/README.md``.

    GET  /health      {"status": "ok", "engine": "piper-cpu+kokoro-cpu", "warm": bool, "active": int,
                       "voices": [...], "profiles": ["world", "kokoro"], "languages": [...], "backends": [...], ...}
    GET  /voices      {"voices": [{"name", "gender", "language", "description", "engine", "languages"}]}
    POST /synthesize  JSON {"text", "voice" | "profile", "language", "max_seconds", "temperature", "speed",
                      "start_chunk", "tenant", "verify", "script", "whole"} -> frame stream
    POST /speakers/encode  audio/wav body -> {"profile": {...}, "candidates": [{...}], "analysis": {...}}

Settings: engine/settings.py reads them from the environment once, at start (engine/README.md).
Request bodies: engine/schemas.py checks them (pydantic) and names the refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import threading
import time
from dataclasses import dataclass, replace
from typing import Any

import anyio
import anyio.to_thread
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from engine import protocol as proto
from engine import timing
from engine import verify as vfy
from engine import voice_fit as vf
from engine.backends import Backend, Backends, ProfilesUnavailable
from engine.languages import LANGUAGE_NAMES, language_detect, language_normalize
from engine.piper_engine import to_pcm16
from engine.profiles import DEFAULT_PROFILE_KINDS, ProfileError
from engine.schemas import BadRequest, synthesis_request_parse
from engine.settings import Settings
from engine.slots import FairSlots
from engine.speed import MAX_SPEED, MIN_SPEED, speed_split, time_stretch
from engine.text import Pause, Run, Say, first_phrase_split, script_runs

log = logging.getLogger("engine.app")

AUDIO_FRAME_SECONDS = 0.5  # PCM is sent in frames of at most this much audio
FADE_OUT_SECONDS = 0.01  # applied where max_seconds cuts a chunk
# Next to a pause the chunk's own silence is cut to this (below SILENCE_LEVEL), so the silence
# heard is the pause asked for.
PAUSE_EDGE_SECONDS = 0.005
SILENCE_LEVEL = 0.01
# Where the first phrase was cut between two words (no comma there): the phrase's trailing silence
# is cut to this and the rest's leading one to PAUSE_EDGE_SECONDS, so the seam is a word's gap
# (~45 ms, as in the unsplit take), not a sentence end's (~130 ms Piper, ~320 ms Kokoro).
SEAM_EDGE_SECONDS = 0.04
WAV_TYPES = {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"}
MAX_CLIP_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class Synthesis:
    """A /synthesize request, checked."""

    text: str
    backend: Backend  # the backend that speaks the voice (engine/backends.py)
    voice: Any  # a built-in voice, or one made from a speaker profile (the backend's own type)
    max_seconds: float | None
    temperature: float | None
    start_chunk: int
    tenant: str | None
    language: str = "en"  # the primary tag the text is phonemised in, one of the backend's
    verify: bool = False  # hear each chunk back and speak a failed one again (engine/verify.py)
    # What is left of the request's speed once the voice speaks at the rest (engine/speed.py).
    stretch: float = 1.0
    speed: float = 1.0  # the request's speed: a script's piece is spoken at its rate times it
    base_voice: Any = None  # the voice at its own pace (``voice`` is it at ``speed``)
    # What is said: the request's script, or its text as one piece (engine/text.py).
    script: tuple[Say | Pause, ...] = ()
    # The caller delivers the take only whole: no first audio to hurry, so no first phrase and no
    # short first chunk (each is one more model call). It decides how the text is chunked, so a
    # resumed request says it again.
    whole: bool = False


@dataclass(frozen=True)
class Part:
    """A chunk of a request as it is spoken: the backend's chunk, the script's run it comes from
    (its rate, and where its words are in the request's text), and the pauses around it."""

    chunk: Any
    run: Run
    pause_before: float = 0.0
    pause_after: float = 0.0
    follows_pause: bool = False  # its leading silence is cut, as its trailing one is before a pause
    joins_next: bool = False  # the first phrase, cut between words: it and the next part meet as words do


def synthesis_parts(synthesis: Synthesis) -> list[Part]:
    """The request's parts in order (blocking: phonemises). The chunks are the backend's of each
    run, so they are numbered alike on every engine; a pause ends a chunk. ``ValueError``: IPA
    the voice cannot say."""
    backend, language = synthesis.backend, synthesis.language
    first_short = not synthesis.whole
    parts: list[Part] = []
    lead = 0.0  # pauses before any speech
    for run in script_runs(synthesis.script, synthesis.text):
        # The request's first chunk is a short phrase (engine/text.py first_phrase_split).
        quick = first_short and backend.first_phrase and not (run.ipa or parts)
        phrase = first_phrase_split(run.text, language) if quick else None
        joins = False  # the phrase and the rest meet between two words
        if run.ipa:
            chunks = [backend.prepare_phonemes(run.ipa, run.text, language)]
        elif phrase is not None and (head := backend.prepare(phrase.head, language)):
            rest = backend.prepare(phrase.rest, language)
            chunks = head + rest
            joins = bool(rest) and len(head) == 1 and not phrase.at_clause
        else:
            chunks = backend.prepare(run.text, language, first_short=first_short)
        if not chunks:  # nothing speakable: its pauses are kept all the same
            if parts:
                parts[-1] = replace(parts[-1], pause_after=parts[-1].pause_after + run.pause_before + run.pause_after)
            else:
                lead += run.pause_before + run.pause_after
            continue
        new = [Part(chunk, run) for chunk in chunks]
        new[0] = replace(new[0], pause_before=lead + run.pause_before, joins_next=joins)
        new[-1] = replace(new[-1], pause_after=new[-1].pause_after + run.pause_after)
        lead = 0.0
        parts.extend(new)
    if parts and lead:
        parts[-1] = replace(parts[-1], pause_after=parts[-1].pause_after + lead)
    return [
        replace(
            part,
            follows_pause=part.pause_before > 0
            or (k > 0 and (parts[k - 1].pause_after > 0 or parts[k - 1].joins_next)),
        )
        for k, part in enumerate(parts)
    ]


def _pause_edges_cut(
    audio: np.ndarray, *, start: bool, end: bool, end_edge: float = PAUSE_EDGE_SECONDS
) -> tuple[np.ndarray, int]:
    """``audio`` with its leading (``start``) silence cut to PAUSE_EDGE_SECONDS and its trailing
    (``end``) one to ``end_edge``, and how many samples were cut before it."""
    if not (start or end):
        return audio, 0
    loud = np.flatnonzero(np.abs(audio) > SILENCE_LEVEL)
    if loud.size == 0:
        return audio, 0
    rate = proto.SAMPLE_RATE
    first = max(0, int(loud[0]) - int(PAUSE_EDGE_SECONDS * rate)) if start else 0
    last = min(audio.size, int(loud[-1]) + 1 + int(end_edge * rate)) if end else audio.size
    return audio[first:last], first


def _bad(code: str, message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


class FrameStream(Response):
    """Streams frames and watches for the client going away.

    A disconnect sets ``cancelled`` (a ``threading.Event`` that the synthesis
    thread checks between sentences and the producer checks between chunks)
    and cancels the producer at its next await.
    """

    media_type = proto.CONTENT_TYPE

    def __init__(self, producer, cancelled: threading.Event) -> None:
        self.producer = producer
        self.cancelled = cancelled
        self.status_code = 200
        self.background = None
        self.init_headers({"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async with anyio.create_task_group() as tg:

            async def watch() -> None:
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        self.cancelled.set()
                        tg.cancel_scope.cancel()
                        return

            tg.start_soon(watch)
            try:
                await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
                async for data in self.producer:
                    if self.cancelled.is_set():
                        break
                    await send({"type": "http.response.body", "body": data, "more_body": True})
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            except OSError:  # client went away mid-send
                self.cancelled.set()
            finally:
                with contextlib.suppress(Exception):
                    await self.producer.aclose()
                tg.cancel_scope.cancel()


class EngineService:
    def __init__(self, settings: Settings, backends: Backends | None = None) -> None:
        self.settings = settings
        self.backends = backends or Backends.create(
            settings.backends,
            idle_unload_seconds=settings.idle_unload_seconds,
            threads=settings.threads,
            kokoro_cache=settings.kokoro_cache,
        )
        self.slots = FairSlots(settings.concurrency)
        self.requests = 0  # syntheses under way, between chunks or waiting for a place too
        self.started = time.time()

    # --- request parsing ------------------------------------------------------------
    async def parse(self, request: Request) -> Synthesis:
        """The request checked (engine/schemas.py) and its voice resolved; ``BadRequest`` if not."""
        checked = synthesis_request_parse(await request.body(), max_text_chars=self.settings.max_text_chars)
        profile = checked.profile
        if profile is not None:  # a speaker profile wins; 'voice' is then ignored
            try:
                backend = self.backends.profile_backend(profile)
                voice = backend.profile_voice(profile)
            except ProfileError as exc:
                raise BadRequest("invalid_profile", str(exc)) from None
            except ProfilesUnavailable as exc:
                kinds = ", ".join(self.backends.profile_kinds) or "none"
                message = f"this engine does not speak {exc.args[0]} speaker profiles (it speaks: {kinds})"
                raise BadRequest("profiles_unavailable", message) from None
        else:
            assert checked.voice is not None  # the schema asks for one without a profile
            resolved = self.backends.resolve(checked.voice)
            if resolved is None:
                names = ", ".join(self.backends.voice_names())
                raise BadRequest("unknown_voice", f"unknown voice {checked.voice!r}; built-in voices: {names}")
            backend, voice = resolved.backend, resolved.voice
        speed = 1.0 if checked.speed is None else checked.speed
        base_voice = voice
        spoken, stretch = speed_split(speed, backend.pace_exponent)
        if spoken != 1.0:
            voice = backend.voice_at_speed(voice, spoken)
        script = tuple(checked.script_pieces())
        said = " ".join(piece.text for piece in script if isinstance(piece, Say))
        return Synthesis(
            checked.text,
            backend,
            voice,
            checked.max_seconds,
            checked.temperature,
            checked.start_chunk,
            checked.tenant,
            language=self._language(checked.language, said, backend),
            verify=bool(checked.verify),
            stretch=stretch,
            speed=speed,
            base_voice=base_voice,
            script=script,
            whole=bool(checked.whole),
        )

    @staticmethod
    def _language(value: object, text: str, backend: Backend) -> str:
        """The request's language as a primary tag (detected from the text when absent), which the
        voice's backend must speak."""
        language = language_detect(text) if value is None else language_normalize(value)
        if language is None:
            raise BadRequest("invalid_language", "'language' must be a language tag such as 'en' or 'ja-JP'")
        if language not in backend.languages:
            spoken = ", ".join(backend.languages)
            name = LANGUAGE_NAMES.get(language, repr(language))
            raise BadRequest(
                "unsupported_language",
                f"this voice's engine ({backend.name}) does not speak {name}; it speaks {spoken}",
            )
        return language

    # --- endpoints --------------------------------------------------------------------
    async def health(self, request: Request) -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "engine": self.backends.name,
                "warm": self.backends.warm,
                "active": self.slots.active,
                "waiting": self.slots.waiting,
                "requests": self.requests,
                "concurrency": self.settings.concurrency,
                "sample_rate": proto.SAMPLE_RATE,
                # What the workers' pool routes on: the voices this process speaks, and the kinds
                # of speaker profile it speaks (and makes).
                "voices": self.backends.voice_names(),
                "profiles": self.backends.profile_kinds,
                "languages": self.backends.languages(),
                "backends": self.backends.describe(),
            }
        )

    async def voices(self, request: Request) -> JSONResponse:
        return JSONResponse({"voices": self.backends.list_voices()})

    async def synthesize(self, request: Request) -> Response:
        try:
            synthesis = await self.parse(request)
        except BadRequest as exc:
            return _bad(exc.code, exc.message)
        try:
            chunks = await anyio.to_thread.run_sync(synthesis_parts, synthesis)
        except ValueError as exc:  # a <phoneme>'s IPA the voice cannot say
            return _bad("invalid_ipa", str(exc))
        if not chunks:
            return _bad("no_speech", "the text has nothing speakable (no words after removing symbols and punctuation)")
        if synthesis.start_chunk >= len(chunks):
            return _bad("invalid_start_chunk", f"'start_chunk' must be below the text's {len(chunks)} chunks")
        cancelled = threading.Event()
        return FrameStream(self._produce(synthesis, chunks, cancelled), cancelled)

    async def encode_speaker(self, request: Request) -> JSONResponse:
        makers = self.backends.profiles
        if not makers:
            return _bad("profiles_unavailable", "this engine makes no speaker profiles (neither piper nor kokoro)")
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype not in WAV_TYPES:
            return _bad("bad_content_type", "send the reference clip as a WAV body with Content-Type: audio/wav")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_CLIP_BYTES:
            return _bad("clip_too_large", f"the clip is larger than {MAX_CLIP_BYTES} bytes", status=413)
        body = bytearray()
        async for part in request.stream():
            body.extend(part)
            if len(body) > MAX_CLIP_BYTES:
                return _bad("clip_too_large", f"the clip is larger than {MAX_CLIP_BYTES} bytes", status=413)
        try:
            x, fs = decode_wav(bytes(body))
        except ValueError as exc:
            return _bad("bad_audio", f"undecodable WAV: {exc}")
        if x.size > self.settings.max_clip_seconds * fs:
            return _bad("clip_too_long", f"the clip is longer than {self.settings.max_clip_seconds:g} s")
        candidates: dict[str, dict] = {}
        analysis: dict = {}
        try:
            async with self.slots.slot(f"encode:{id(body)}"):
                t0 = time.perf_counter()
                ref = await anyio.to_thread.run_sync(vf.reference_analyze, x, fs)
                # Every backend's quick profile from the one analysis: each is a candidate, and
                # the clone speaks the default kind's at once.
                for kind, backend in makers.items():
                    async with self._work(backend):
                        candidates[kind], made = await anyio.to_thread.run_sync(backend.encode_speaker, ref)
                    analysis = {**made, **analysis}
                log.info("speaker encoded in %.1fs (%s)", time.perf_counter() - t0, analysis)
        except vf.NoSpeech as exc:
            return _bad("no_speech", f"not enough speech to clone: {exc}")
        except Exception as exc:
            log.exception("speaker encoding failed")
            return _bad("encoding_failed", f"{type(exc).__name__}: {exc}", status=500)
        kind = next((k for k in DEFAULT_PROFILE_KINDS if k in candidates), next(iter(candidates)))
        answer = {"profile": candidates[kind], "candidates": list(candidates.values()), "analysis": analysis}
        return JSONResponse(answer)

    @contextlib.asynccontextmanager
    async def _work(self, backend: Backend):
        """A request under way (counted in `requests`): its backend's model is not unloaded meanwhile."""
        backend.begin()
        self.requests += 1
        try:
            yield
        finally:
            self.requests -= 1
            backend.end()

    async def _produce(self, synthesis: Synthesis, chunks, cancelled: threading.Event):
        engine = synthesis.backend
        start_chunk = synthesis.start_chunk
        tenant = synthesis.tenant or f"request:{id(cancelled)}"  # without one, a tenant of its own
        rate = proto.SAMPLE_RATE
        limit = None if synthesis.max_seconds is None else round(synthesis.max_seconds * rate)
        produced = 0  # samples
        truncated = False
        n = len(chunks)
        checks: list[proto.Verified] = []  # with verify: each chunk's check
        # With verify, a chunk too short to be heard alone (engine/verify.py heard_alone) is sent
        # at once and judged with the next: ``held`` is what that check hears first (or, for a short
        # last chunk, the chunk before it), ``deferred`` the chunks whose checks wait for it.
        held: vfy.Heard | None = None
        deferred: list[int] = []
        locator = timing.RunLocator()  # chunk words -> offsets into the request's text
        for skipped in chunks[:start_chunk]:
            locator.skip(skipped.run, skipped.chunk.text)
        try:
            async with self._work(engine):
                if not engine.warm:
                    yield proto.warming_up()
                    async with self.slots.slot(tenant):
                        await anyio.to_thread.run_sync(engine.load)
                # A caller resuming work another engine began skips the chunks it already has; the
                # chunks keep their numbers, as the text splits the same way on every engine.
                for i, part in enumerate(chunks[start_chunk:], start=start_chunk + 1):
                    if cancelled.is_set():
                        log.info("client went away; stopping before chunk %d/%d", i, n)
                        return
                    if limit is not None and produced >= limit:
                        truncated = True
                        break
                    yield proto.generating(i, n, produced / rate)
                    short = synthesis.verify and not vfy.heard_alone(part.chunk.text)
                    defer = short and i < n
                    before = held if deferred or short else None
                    # A verified chunk's checks and retake count in its turn; the request's first chunk
                    # may pre-empt a flood's (engine/slots.py).
                    async with self.slots.slot(tenant, first=i == start_chunk + 1):
                        take, words = await anyio.to_thread.run_sync(
                            functools.partial(self._take, check=not defer, before=before),
                            synthesis,
                            part.chunk,
                            cancelled,
                            part.run.rate,
                        )
                    if cancelled.is_set():
                        return
                    audio, words = _with_pauses(part, take.audio, words)
                    if limit is not None and produced + audio.size > limit:
                        audio = audio[: limit - produced].copy()
                        fade = min(audio.size, int(FADE_OUT_SECONDS * rate))
                        if fade:
                            audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
                        truncated = True
                    pcm = to_pcm16(audio)
                    step = int(AUDIO_FRAME_SECONDS * rate) * 2
                    for off in range(0, len(pcm), step):
                        yield proto.audio(pcm[off : off + step])
                    produced += audio.size
                    if defer:
                        text = part.chunk.text
                        held = held.then(text, take.audio) if deferred and held else vfy.Heard(text, take.audio)
                        deferred.append(i)
                    elif synthesis.verify:
                        held = vfy.Heard(part.chunk.text, take.audio)
                        for event in self._verified(deferred, i, take):
                            checks.append(event)
                            yield proto.encode_event(event)
                        deferred = []
                    if words is None:
                        locator.skip(part.run, part.chunk.text)
                    else:
                        placed = locator.place(part.run, timing.words_cut(words, audio.size / rate))
                        offset = (produced - audio.size) / rate
                        yield proto.encode_event(proto.Words(i, tuple(timing.words_scale(placed, 1.0, offset))))
                    if truncated:
                        break
                if deferred and held is not None:  # cut short after a short chunk: heard alone after all
                    async with self.slots.slot(tenant):
                        alone = await anyio.to_thread.run_sync(
                            functools.partial(vfy.check, held.text, held.audio, rate, language=synthesis.language)
                        )
                    for event in self._verified(deferred, None, vfy.Take(held.audio, alone)):
                        checks.append(event)
                        yield proto.encode_event(event)
                summary = proto.verification_summary(checks) if synthesis.verify else None
                yield proto.done(produced / rate, truncated, summary)
        except Exception as exc:  # in-band error; the process keeps serving
            log.exception("synthesis failed")
            yield proto.error("synthesis_failed", f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _verified(deferred: list[int], chunk: int | None, take: vfy.Take) -> list[proto.Verified]:
        """The checks sent for ``chunk`` and the ``deferred`` chunks heard with it: its check is
        theirs (only ``chunk`` was spoken again)."""
        c = take.check
        events = [proto.Verified(j, c.checked, c.word_error, False, c.passed) for j in deferred]
        if chunk is not None:
            events.append(proto.Verified(chunk, c.checked, c.word_error, take.respoken, c.passed))
        return events

    @staticmethod
    def _take(
        synthesis: Synthesis,
        chunk,
        cancelled: threading.Event,
        rate: float = 1.0,
        *,
        check: bool = True,
        before: vfy.Heard | None = None,
    ) -> tuple[vfy.Take, list[proto.Word] | None]:
        """One chunk's audio (blocking) at ``rate`` times the request's speed: spoken once, or with
        verify (and ``check``) heard back, after ``before`` if given, and spoken again if its words
        do not match (engine/verify.py); and the kept take's word timings."""
        spoken: list[timing.Spoken] = []
        at_rate, stretch = _voice_at_rate(synthesis, rate)

        def speak(voice) -> np.ndarray:
            said = synthesis.backend.synthesize_chunk_timed(chunk, voice, synthesis.temperature, cancelled)
            audio = time_stretch(said.audio, proto.SAMPLE_RATE, stretch)  # what is heard back too
            factor = audio.size / said.audio.size if said.audio.size else 1.0
            words = None if said.words is None else timing.words_scale(said.words, factor)
            spoken.append(timing.Spoken(audio, words))
            return audio

        if not (synthesis.verify and check):
            take = vfy.Take(speak(at_rate), vfy.Check(checked=False))
        else:
            # The text's language, not the voice's: an English voice reading Japanese is not checked.
            language = synthesis.language
            take = vfy.take_verified(
                chunk.text,
                speak,
                at_rate,
                rate=proto.SAMPLE_RATE,
                language=language,
                cancelled=cancelled,
                before=before,
            )
        return take, next((s.words for s in spoken if s.audio is take.audio), None)

    async def idle_unloader(self) -> None:
        interval = max(0.2, min(self.settings.idle_unload_seconds / 4, 10.0))
        while True:
            await asyncio.sleep(interval)
            try:
                await anyio.to_thread.run_sync(self.backends.unload_if_idle)
                await anyio.to_thread.run_sync(vfy.unload_if_idle, self.settings.idle_unload_seconds)
            except Exception:  # pragma: no cover
                log.exception("idle unload failed")


def _voice_at_rate(synthesis: Synthesis, rate: float) -> tuple[Any, float]:
    """(the voice, the time-stretch left) that speak at ``rate`` times the request's speed, held
    to the speed range."""
    if rate == 1.0 or synthesis.base_voice is None:
        return synthesis.voice, synthesis.stretch
    backend = synthesis.backend
    spoken, stretch = speed_split(min(max(synthesis.speed * rate, MIN_SPEED), MAX_SPEED), backend.pace_exponent)
    voice = backend.voice_at_speed(synthesis.base_voice, spoken) if spoken != 1.0 else synthesis.base_voice
    return voice, stretch


def _with_pauses(
    part: Part, audio: np.ndarray, words: list[proto.Word] | None
) -> tuple[np.ndarray, list[proto.Word] | None]:
    """A part's audio with its pauses: exact silence (24 kHz samples) before and after it, its own
    silence next to them cut; its words moved with the audio."""
    end_edge = SEAM_EDGE_SECONDS if part.joins_next and not part.pause_after else PAUSE_EDGE_SECONDS
    audio, cut = _pause_edges_cut(
        audio, start=part.follows_pause, end=part.pause_after > 0 or part.joins_next, end_edge=end_edge
    )
    before = round(part.pause_before * proto.SAMPLE_RATE)
    after = round(part.pause_after * proto.SAMPLE_RATE)
    if words is not None and (cut or before):
        shift = (before - cut) / proto.SAMPLE_RATE
        lead = before / proto.SAMPLE_RATE
        words = [
            replace(w, start=max(w.start + shift, lead), end=max(w.end + shift, lead))
            for w in timing.words_cut(words, (cut + audio.size) / proto.SAMPLE_RATE)
        ]
    if before or after:
        audio = np.concatenate(
            [np.zeros(before, dtype=np.float32), audio.astype(np.float32), np.zeros(after, dtype=np.float32)]
        )
    return audio, words


def decode_wav(data: bytes) -> tuple[np.ndarray, int]:
    """Float mono samples and the rate of a WAV file (any PCM width, channels
    mixed down); ``ValueError`` if it is not one."""
    import soundfile as sf

    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    try:
        x, fs = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    except Exception as exc:  # soundfile raises its own LibsndfileError (a RuntimeError)
        raise ValueError(str(exc).split(": ", 1)[-1]) from None
    x = x.mean(axis=1)
    if not np.all(np.isfinite(x)):
        raise ValueError("non-finite samples")
    return x, int(fs)


def create_app(settings: Settings | None = None, backends: Backends | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    service = EngineService(settings, backends)

    @contextlib.asynccontextmanager
    async def lifespan(app):
        task = asyncio.create_task(service.idle_unloader())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = Starlette(
        routes=[
            Route("/health", service.health, methods=["GET"]),
            Route("/voices", service.voices, methods=["GET"]),
            Route("/synthesize", service.synthesize, methods=["POST"]),
            Route("/speakers/encode", service.encode_speaker, methods=["POST"]),
        ],
        lifespan=lifespan,
    )
    app.state.service = service
    return app
