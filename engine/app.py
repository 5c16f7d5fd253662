"""The engine's HTTP service (Starlette). See ``engine/README.md``.

    GET  /health      {"status": "ok", "engine": "piper-cpu+kokoro-cpu", "warm": bool, "active": int,
                       "voices": [...], "profiles": ["world", "kokoro"], "languages": [...], "backends": [...], ...}
    GET  /voices      {"voices": [{"name", "gender", "language", "description", "engine", "languages"}]}
    POST /synthesize  JSON {"text", "voice" | "profile", "language", "max_seconds", "temperature", "start_chunk",
                      "tenant", "verify"} -> frame stream
    POST /speakers/encode  audio/wav body -> {"profile": {...}, "candidates": [{...}], "analysis": {...}}

Settings (environment):
    ENGINE_BACKENDS             the backends this process hosts, in order (piper,kokoro; engine/backends.py)
    ENGINE_THREADS              threads for one chunk's synthesis (default: the cores, at most 4)
    ENGINE_CONCURRENCY          chunks synthesised at once (default: cores / ENGINE_THREADS), shared
                                fairly between tenants (engine/slots.py)
    ENGINE_IDLE_UNLOAD_SECONDS  unload the model after this long without work (600)
    ENGINE_MAX_TEXT_CHARS       longest accepted text (20000)
    ENGINE_MAX_CLIP_SECONDS     longest reference clip /speakers/encode accepts (30)
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import logging
import math
import os
import threading
import time
from dataclasses import dataclass

import anyio
import anyio.to_thread
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from engine import protocol as proto
from engine import verify as vfy
from engine import voice_fit as vf
from engine import voice_transform as vtm
from engine.backends import DEFAULT_PROFILE_KINDS, Backends, ProfilesUnavailable, backends_from_env
from engine.languages import LANGUAGE_NAMES, language_detect, language_normalize
from engine.piper_engine import MAX_TEMPERATURE, MIN_TEMPERATURE, to_pcm16
from engine.slots import FairSlots

log = logging.getLogger("engine.app")

AUDIO_FRAME_SECONDS = 0.5  # PCM is sent in frames of at most this much audio
FADE_OUT_SECONDS = 0.01  # applied where max_seconds cuts a chunk
WAV_TYPES = {"audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave"}
MAX_CLIP_BYTES = 8 * 1024 * 1024


# Piper's model gains little from more than this many threads for one chunk.
MAX_THREADS_PER_SYNTHESIS = 4


@dataclass
class Settings:
    concurrency: int
    idle_unload_seconds: float
    max_text_chars: int
    max_clip_seconds: float = 30.0
    threads: int = 0
    backends: tuple[str, ...] = ("piper", "kokoro")

    @classmethod
    def from_env(cls) -> Settings:
        # Places times threads fill the cores and no more: two syntheses of two threads each on two
        # cores took longer than the same two one after the other (measured: 248 ms a chunk against
        # 112 ms alone), while one place of two threads gives the first audio 1.7 times sooner
        # than a place of one thread. Requests still share the places chunk by chunk.
        cores = os.cpu_count() or 1
        threads = max(1, int(os.environ.get("ENGINE_THREADS") or min(cores, MAX_THREADS_PER_SYNTHESIS)))
        return cls(
            concurrency=max(1, int(os.environ.get("ENGINE_CONCURRENCY") or cores // threads)),
            threads=threads,
            idle_unload_seconds=float(os.environ.get("ENGINE_IDLE_UNLOAD_SECONDS") or 600),
            max_text_chars=int(os.environ.get("ENGINE_MAX_TEXT_CHARS") or 20000),
            max_clip_seconds=float(os.environ.get("ENGINE_MAX_CLIP_SECONDS") or 30),
            backends=backends_from_env(),
        )


@dataclass(frozen=True)
class Synthesis:
    """A /synthesize request, checked."""

    text: str
    backend: object  # the backend that speaks the voice (engine/backends.py)
    voice: object  # a built-in voice, or one made from a speaker profile
    max_seconds: float | None
    temperature: float | None
    start_chunk: int
    tenant: str | None
    language: str = "en"  # the primary tag the text is phonemised in, one of the backend's
    verify: bool = False  # hear each chunk back and speak a failed one again (engine/verify.py)


class BadRequest(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


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
            settings.backends, idle_unload_seconds=settings.idle_unload_seconds, threads=settings.threads
        )
        self.slots = FairSlots(settings.concurrency)
        self.requests = 0  # syntheses under way, between chunks or waiting for a place too
        self.started = time.time()

    # --- request parsing ------------------------------------------------------------
    async def parse(self, request: Request) -> Synthesis:
        try:
            body = await request.body()
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise BadRequest("bad_json", "the request body must be a JSON object") from None
        if not isinstance(data, dict):
            raise BadRequest("bad_json", "the request body must be a JSON object")
        text = data.get("text")
        voice_name = data.get("voice")
        max_seconds = data.get("max_seconds")
        temperature = data.get("temperature")
        profile = data.get("profile")
        if not isinstance(text, str):
            raise BadRequest("invalid_text", "'text' is required and must be a string")
        if profile is None and (not isinstance(voice_name, str) or not voice_name.strip()):
            raise BadRequest("invalid_voice", "'voice' is required (unless 'profile' is given) and must be a string")

        def number(name, value):
            if value is None:
                return None
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise BadRequest(f"invalid_{name}", f"'{name}' must be a number or null")
            return float(value)

        max_seconds = number("max_seconds", max_seconds)
        temperature = number("temperature", temperature)
        start_chunk = data.get("start_chunk", 0)
        if isinstance(start_chunk, bool) or not isinstance(start_chunk, int) or start_chunk < 0:
            raise BadRequest("invalid_start_chunk", "'start_chunk' must be a whole number from 0")
        tenant = data.get("tenant")
        if tenant is not None and (not isinstance(tenant, str) or not 0 < len(tenant) <= 100):
            raise BadRequest("invalid_tenant", "'tenant' must be a string of 1 to 100 characters")
        verify = data.get("verify")
        verify = False if verify is None else verify  # absent or null: no check
        if not isinstance(verify, bool):
            raise BadRequest("invalid_verify", "'verify' must be true or false")
        if max_seconds is not None and max_seconds <= 0:
            raise BadRequest("invalid_max_seconds", "'max_seconds' must be greater than 0")
        if temperature is not None and not (MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE):
            raise BadRequest(
                "invalid_temperature", f"'temperature' must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE}"
            )
        if not text.strip():
            raise BadRequest("empty_text", "'text' is empty")
        if len(text) > self.settings.max_text_chars:
            raise BadRequest("text_too_long", f"'text' is longer than {self.settings.max_text_chars} characters")
        if profile is not None:  # a speaker profile wins; 'voice' is then ignored
            try:
                backend = self.backends.profile_backend(profile)
                voice = backend.profile_voice(profile)
            except vtm.ProfileError as exc:
                raise BadRequest("invalid_profile", str(exc)) from None
            except ProfilesUnavailable as exc:
                kinds = ", ".join(self.backends.profile_kinds) or "none"
                message = f"this engine does not speak {exc.args[0]} speaker profiles (it speaks: {kinds})"
                raise BadRequest("profiles_unavailable", message) from None
        else:
            resolved = self.backends.resolve(voice_name)
            if resolved is None:
                names = ", ".join(self.backends.voice_names())
                raise BadRequest("unknown_voice", f"unknown voice {voice_name!r}; built-in voices: {names}")
            backend, voice = resolved.backend, resolved.voice
        language = self._language(data.get("language"), text, backend)
        return Synthesis(
            text, backend, voice, max_seconds, temperature, start_chunk, tenant, language=language, verify=verify
        )

    @staticmethod
    def _language(value, text: str, backend) -> str:
        """The request's language as a primary tag (detected from the text when absent), which the
        voice's backend must speak."""
        if value is None:
            language = language_detect(text)
        else:
            language = language_normalize(value)
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
        chunks = await anyio.to_thread.run_sync(synthesis.backend.prepare, synthesis.text, synthesis.language)
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
        candidates, analysis = {}, {}
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
    async def _work(self, backend):
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
        try:
            async with self._work(engine):
                if not engine.warm:
                    yield proto.warming_up()
                    async with self.slots.slot(tenant):
                        await anyio.to_thread.run_sync(engine.load)
                # A caller resuming work another engine began skips the chunks it already has; the
                # chunks keep their numbers, as the text splits the same way on every engine.
                for i, chunk in enumerate(chunks[start_chunk:], start=start_chunk + 1):
                    if cancelled.is_set():
                        log.info("client went away; stopping before chunk %d/%d", i, n)
                        return
                    if limit is not None and produced >= limit:
                        truncated = True
                        break
                    yield proto.generating(i, n, produced / rate)
                    async with self.slots.slot(tenant):  # a verified chunk's checks and retake count in its turn
                        take = await anyio.to_thread.run_sync(self._take, synthesis, chunk, cancelled)
                    if cancelled.is_set():
                        return
                    audio = take.audio
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
                    if synthesis.verify:
                        c = take.check
                        checks.append(proto.Verified(i, c.checked, c.word_error, take.respoken, c.passed))
                        yield proto.encode_event(checks[-1])
                    if truncated:
                        break
                summary = proto.verification_summary(checks) if synthesis.verify else None
                yield proto.done(produced / rate, truncated, summary)
        except Exception as exc:  # in-band error; the process keeps serving
            log.exception("synthesis failed")
            yield proto.error("synthesis_failed", f"{type(exc).__name__}: {exc}")

    @staticmethod
    def _take(synthesis: Synthesis, chunk, cancelled: threading.Event) -> vfy.Take:
        """One chunk's audio (blocking): spoken once, or with verify heard back and spoken again
        if its words do not match (engine/verify.py)."""

        def speak(voice) -> np.ndarray:
            return synthesis.backend.synthesize_chunk(chunk, voice, synthesis.temperature, cancelled)

        if not synthesis.verify:
            return vfy.Take(speak(synthesis.voice), vfy.Check(checked=False))
        # The text's language, not the voice's: an English voice reading Japanese is not checked.
        return vfy.take_verified(
            chunk.text, speak, synthesis.voice, rate=proto.SAMPLE_RATE, language=synthesis.language, cancelled=cancelled
        )

    async def idle_unloader(self) -> None:
        interval = max(0.2, min(self.settings.idle_unload_seconds / 4, 10.0))
        while True:
            await asyncio.sleep(interval)
            try:
                await anyio.to_thread.run_sync(self.backends.unload_if_idle)
                await anyio.to_thread.run_sync(vfy.unload_if_idle, self.settings.idle_unload_seconds)
            except Exception:  # pragma: no cover
                log.exception("idle unload failed")


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
