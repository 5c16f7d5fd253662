from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from types import TracebackType
from typing import IO, Any, cast

import httpx

from ._common import (
    DEFAULT_BASE_URL,
    DEFAULT_CHANNELS,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_RETRIES,
    DEFAULT_MAX_RETRY_DELAY,
    DEFAULT_MODEL,
    DEFAULT_RETRY_BACKOFF,
    DEFAULT_SAMPLE_RATE,
    DEFAULT_SAMPLE_WIDTH,
    DEFAULT_TIMEOUT,
    GENERATIONS_PAGE_MAX,
    RESPONSE_FORMATS,
    RETRY_EXCEPTIONS,
    RETRY_STATUSES,
    AudioInput,
    ClientSettings,
    DownloadTarget,
    GenerationPage,
    SpeechResult,
    TimeoutTypes,
    api_error,
    clone_upload,
    generation_audio_path,
    generation_page,
    generations_query,
    json_data,
    json_object,
    required_id,
    speech_result,
    transport_error,
    tts_payload,
    wav_sizes_write,
)
from ._version import SDK_VERSION
from .exceptions import OuteAIError
from .types import (
    CreatedToken,
    DeletedVoiceClone,
    Generation,
    RevokedToken,
    Token,
    Voice,
    VoiceClone,
    VoiceClones,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "DEFAULT_CHANNELS",
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_MODEL",
    "DEFAULT_SAMPLE_RATE",
    "DEFAULT_SAMPLE_WIDTH",
    "DEFAULT_TIMEOUT",
    "SDK_VERSION",
    "AsyncOuteAI",
    "AsyncSpeechStream",
    "SpeechResult",
]

logger = logging.getLogger("outeai")


class AsyncSpeechStream:
    """A streamed WAV, asynchronously: `async with` it (or iterate over it at once) to send the
    request; `async for` gives the chunks; save() writes them to a file."""

    def __init__(
        self,
        opener: Callable[[], Awaitable[httpx.Response]],
        *,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
    ) -> None:
        self._opener = opener
        self._chunk_size = chunk_size
        self._response: httpx.Response | None = None
        self._closed = False

    @property
    def headers(self) -> httpx.Headers:
        if self._response is None:
            raise OuteAIError("The async stream has not been opened yet.")
        return self._response.headers

    @property
    def status_code(self) -> int:
        if self._response is None:
            raise OuteAIError("The async stream has not been opened yet.")
        return self._response.status_code

    @property
    def closed(self) -> bool:
        return self._closed

    async def _open(self) -> httpx.Response:
        if self._closed:
            raise OuteAIError("The stream is closed.")
        if self._response is None:
            self._response = await self._opener()
        return self._response

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._response is not None:
                await self._response.aclose()

    async def __aenter__(self) -> AsyncSpeechStream:
        await self._open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[bytes]:
        response = await self._open()
        try:
            async for chunk in response.aiter_bytes(self._chunk_size):
                if chunk:
                    yield chunk
        except httpx.HTTPError as exc:
            raise OuteAIError(f"The stream broke off: {exc}") from exc
        finally:
            await self.close()

    async def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the stream to `path` with the true sizes in its WAV header. A stream that breaks
        off raises OuteAIError and leaves no file: a short WAV would look like a finished one."""
        output_path = Path(path)
        with output_path.open("w+b") as handle:
            try:
                async for chunk in self:
                    handle.write(chunk)
            except BaseException:
                handle.close()
                output_path.unlink(missing_ok=True)
                raise
            wav_sizes_write(handle)
        return output_path


class AsyncOuteAI:
    """The OuteAI API, asynchronously (the same calls as OuteAI, awaited).

    `api_key` falls back to the OUTEAI_API_KEY environment variable and `base_url` to OUTEAI_BASE_URL,
    then to https://outeai.com. With `max_retries` > 0, answers 429 and 502 and failed connections are
    tried again after an exponential backoff with jitter, or after the server's Retry-After.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        retry_backoff: float = DEFAULT_RETRY_BACKOFF,
        max_retry_delay: float = DEFAULT_MAX_RETRY_DELAY,
        http_client: httpx.AsyncClient | None = None,
        session: httpx.AsyncClient | None = None,
    ) -> None:
        self._settings = ClientSettings(api_key, base_url, timeout, max_retries, retry_backoff, max_retry_delay)
        client = http_client if http_client is not None else session
        if client is not None and not isinstance(client, httpx.AsyncClient):
            raise OuteAIError("`http_client` must be an httpx.AsyncClient.")
        self._owns_client = client is None
        self.session: httpx.AsyncClient = client if client is not None else httpx.AsyncClient(timeout=timeout)

    @property
    def base_url(self) -> str:
        return self._settings.base_url

    @property
    def timeout(self) -> TimeoutTypes:
        return self._settings.timeout

    @property
    def max_retries(self) -> int:
        return self._settings.max_retries

    @property
    def http_client(self) -> httpx.AsyncClient:
        return self.session

    async def __aenter__(self) -> AsyncOuteAI:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Closes the HTTP client, unless it was passed in (its owner closes it)."""
        if self._owns_client:
            await self.session.aclose()

    # ---------- the published SDK's calls ----------

    async def health(self) -> dict[str, Any]:
        """The server's health: `{"success": true, "data": {"status", "api_version", "engine"}}`."""
        return json_object(await self._request("GET", "/api/v1/health"))

    async def list_voices(self) -> list[Voice]:
        """Built-in voices and your voice clones, each with the `voice_id` to speak with."""
        return cast("list[Voice]", json_data(await self._request("GET", "/api/v1/voices")).get("voices", []))

    async def generate_speech(
        self,
        *,
        text: str,
        voice_id: str,
        model: str = DEFAULT_MODEL,
        language: str | None = None,
        verify: bool = False,
        response_format: str = "wav",
        speed: float = 1.0,
    ) -> SpeechResult:
        """Speech as one file: WAV (24 kHz, mono, 16-bit) unless `response_format` is mp3, opus, aac,
        flac or pcm; `speed` 0.25..4.0 is the speaking rate (billed per second of audio)."""
        payload = tts_payload(
            text=text,
            voice_id=voice_id,
            model=model,
            language=language,
            verify=verify,
            response_format=response_format,
            speed=speed,
        )
        response = await self._request(
            "POST", "/api/v1/tts_non_stream", json=payload, headers={"Accept": RESPONSE_FORMATS[response_format]}
        )
        return speech_result(
            response.content,
            response.headers.get("Content-Type", RESPONSE_FORMATS[response_format]),
            response.headers.get("X-Verification"),
        )

    async def generate_speech_to_file(
        self,
        path: str | os.PathLike[str],
        *,
        text: str,
        voice_id: str,
        model: str = DEFAULT_MODEL,
        language: str | None = None,
        verify: bool = False,
        response_format: str = "wav",
        speed: float = 1.0,
    ) -> Path:
        result = await self.generate_speech(
            text=text,
            voice_id=voice_id,
            model=model,
            language=language,
            verify=verify,
            response_format=response_format,
            speed=speed,
        )
        return result.save(path)

    def stream_speech(
        self,
        *,
        text: str,
        voice_id: str,
        model: str = DEFAULT_MODEL,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
        language: str | None = None,
        verify: bool = False,
        response_format: str = "wav",
        speed: float = 1.0,
    ) -> AsyncSpeechStream:
        """Speech streamed as it is made (WAV unless `response_format` says otherwise; `speed` as in
        `generate_speech`). The request is sent when the stream is entered with
        `async with` (errors raise there) or first iterated. `chunk_size=None` gives the chunks as
        they arrive."""
        payload = tts_payload(
            text=text,
            voice_id=voice_id,
            model=model,
            language=language,
            verify=verify,
            response_format=response_format,
            speed=speed,
        )

        def opener() -> Awaitable[httpx.Response]:
            return self._request(
                "POST",
                "/api/v1/tts_stream",
                json=payload,
                headers={"Accept": RESPONSE_FORMATS[response_format]},
                stream=True,
            )

        return AsyncSpeechStream(opener, chunk_size=chunk_size)

    async def stream_speech_to_file(
        self,
        path: str | os.PathLike[str],
        *,
        text: str,
        voice_id: str,
        model: str = DEFAULT_MODEL,
        chunk_size: int | None = DEFAULT_CHUNK_SIZE,
        language: str | None = None,
        verify: bool = False,
        response_format: str = "wav",
        speed: float = 1.0,
    ) -> Path:
        async with self.stream_speech(
            text=text,
            voice_id=voice_id,
            model=model,
            chunk_size=chunk_size,
            language=language,
            verify=verify,
            response_format=response_format,
            speed=speed,
        ) as stream:
            return await stream.save(path)

    # ---------- voice clones ----------

    async def list_voice_clones(self) -> VoiceClones:
        """`{"voice_clones": [{"voice_id", "speaker_name", "created_at", "fit"}], "quota": {"used", "limit"}}`;
        `fit` says how the clone's background improvement goes (`VoiceCloneFit`)."""
        return cast(VoiceClones, json_data(await self._request("GET", "/api/v1/voice-clones")))

    async def create_voice_clone(self, *, speaker_name: str, audio: AudioInput) -> VoiceClone:
        """A new voice from 5–10 s of one speaker (WAV or MP3, a path, bytes or a binary file)."""
        data, files = clone_upload(speaker_name, audio)
        return cast(VoiceClone, json_data(await self._request("POST", "/api/v1/voice-clones", data=data, files=files)))

    async def delete_voice_clone(self, voice_id: str) -> DeletedVoiceClone:
        path = f"/api/v1/voice-clones/{required_id(voice_id, 'voice_id')}"
        return cast(DeletedVoiceClone, json_data(await self._request("DELETE", path)))

    # ---------- API tokens ----------

    async def list_tokens(self) -> list[Token]:
        """Your active tokens, their secrets masked."""
        return cast("list[Token]", json_data(await self._request("GET", "/api/v1/tokens")).get("tokens", []))

    async def create_token(self, name: str) -> CreatedToken:
        """A new token; its full secret is in `token`, and only in this answer."""
        name = name.strip() if isinstance(name, str) else ""
        if not name:
            raise OuteAIError("`name` must be a non-empty string.")
        return cast(CreatedToken, json_data(await self._request("POST", "/api/v1/tokens", json={"name": name})))

    async def revoke_token(self, token_id: str) -> RevokedToken:
        path = f"/api/v1/tokens/{required_id(token_id, 'token_id')}"
        return cast(RevokedToken, json_data(await self._request("DELETE", path)))

    # ---------- your generations ----------

    async def list_generations(self, *, after: str | None = None, limit: int = 20) -> GenerationPage:
        """A page of everything you generated (Studio, API, legacy, /v1), newest first: `items`,
        `has_more`, and `next` to pass as `after` for the page after it."""
        params = generations_query(after, limit)
        return generation_page(json_data(await self._request("GET", "/api/v1/generations", params=params)))

    async def iter_generations(self, *, limit: int = GENERATIONS_PAGE_MAX) -> AsyncIterator[Generation]:
        """Every generation, newest first, a page of `limit` at a time. Those made while it pages
        are newer than where it stands, so each is given once and none is skipped."""
        after: str | None = None
        while True:
            page = await self.list_generations(after=after, limit=limit)
            for generation in page.items:
                yield generation
            if not page.has_more or not page.next:
                return
            after = page.next

    async def download_generation(
        self, generation_id: str, path_or_file: str | os.PathLike[str] | IO[bytes]
    ) -> Path | IO[bytes]:
        """A generation's audio (24 kHz mono WAV) into a path or a binary file; returns it
        (DownloadTarget: a download that breaks off leaves no file at a path)."""
        response = await self._request(
            "GET", generation_audio_path(generation_id), headers={"Accept": "audio/wav"}, stream=True
        )
        target = DownloadTarget(path_or_file)
        try:
            with target as handle:
                async for chunk in response.aiter_bytes():
                    handle.write(chunk)
        finally:
            await response.aclose()
        return target.result

    # ---------- transport ----------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        stream: bool = False,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """Sends a request, with the retries the client was set up for; the answer if it is a
        success, else OuteAIAPIError (OuteAIError when the server could not be reached)."""
        settings = self._settings
        request_headers = {**settings.headers, **(headers or {})}
        timeout = settings.timeout if self._owns_client else httpx.USE_CLIENT_DEFAULT
        attempt = 0
        while True:
            try:
                request = self.session.build_request(
                    method, settings.url(path), headers=request_headers, timeout=timeout, **kwargs
                )
                response = await self.session.send(request, stream=stream)
            except RETRY_EXCEPTIONS as exc:
                if attempt >= settings.max_retries:
                    raise transport_error(settings, path, exc) from exc
                delay = settings.retry_delay(attempt, None)
                logger.info("%s %s failed (%s); retrying in %.2f s", method, path, exc, delay)
            except httpx.HTTPError as exc:
                raise transport_error(settings, path, exc) from exc
            else:
                if response.is_success:
                    return response
                try:
                    await response.aread()
                except httpx.HTTPError as exc:
                    raise transport_error(settings, path, exc) from exc
                finally:
                    await response.aclose()
                error = api_error(response)
                if response.status_code not in RETRY_STATUSES or attempt >= settings.max_retries:
                    raise error
                delay = settings.retry_delay(attempt, response)
                logger.info("%s %s answered %s; retrying in %.2f s", method, path, response.status_code, delay)
            attempt += 1
            await asyncio.sleep(delay)
