from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

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
    ApiRequest,
    AudioInput,
    BaseClient,
    BaseSpeechStream,
    ClientSettings,
    DownloadTarget,
    GenerationPage,
    SpeechDone,
    SpeechEvent,
    SpeechResult,
    T,
    TimeoutTypes,
    generation_audio_request,
    generation_captions_request,
    generations_list_request,
    health_request,
    next_page_after,
    pronunciation_create_request,
    pronunciation_delete_request,
    pronunciations_export_request,
    pronunciations_import_request,
    pronunciations_list_request,
    speech_request,
    speech_stream_request,
    speech_stream_with_timestamps_request,
    speech_with_timestamps_request,
    stream_broke_off,
    stream_ended,
    stream_event,
    stream_file,
    token_create_request,
    token_revoke_request,
    tokens_list_request,
    transport_error,
    tts_payload,
    voice_clone_create_request,
    voice_clone_delete_request,
    voice_clones_list_request,
    voices_list_request,
)
from ._version import SDK_VERSION
from .exceptions import OuteAIError
from .types import (
    CreatedToken,
    DeletedPronunciation,
    DeletedVoiceClone,
    Generation,
    ImportedPronunciations,
    Pronunciation,
    Pronunciations,
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
    "OuteAI",
    "SpeechEventStream",
    "SpeechResult",
    "SpeechStream",
]


_StreamT = TypeVar("_StreamT", bound="_OpenStream")


class _OpenStream(BaseSpeechStream):
    """An answer being read: closed when its iteration ends, at the end of its `with` block or on close()."""

    _response: httpx.Response

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._response.close()

    def __enter__(self: _StreamT) -> _StreamT:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class SpeechStream(_OpenStream):
    """A streamed WAV: a 44-byte header, then PCM as it is generated. Iterate over it for the chunks,
    or save() it; it is closed when the iteration ends, at the end of its `with` block or on close()."""

    def __init__(self, response: httpx.Response, chunk_size: int | None = DEFAULT_CHUNK_SIZE) -> None:
        super().__init__(response, chunk_size)

    def __iter__(self) -> Iterator[bytes]:
        if self._closed:
            raise OuteAIError("The stream is closed.")
        try:
            for chunk in self._response.iter_bytes(self._chunk_size):
                if chunk:
                    yield chunk
        except httpx.HTTPError as exc:
            raise stream_broke_off(exc) from exc
        finally:
            self.close()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the stream to `path` with the true sizes in its WAV header. A stream that breaks
        off raises OuteAIError and leaves no file: a short WAV would look like a finished one."""
        with stream_file(path) as handle:
            for chunk in self:
                handle.write(chunk)
        return Path(path)


class SpeechEventStream(_OpenStream):
    """A take streamed with its words (stream_speech_with_timestamps): iterate over it for its
    events as they come, SpeechAudio pieces, each part's SpeechWords after its audio, and a last
    SpeechDone. A take that fails on the way raises OuteAIAPIError (its code and message); one cut
    off raises OuteAIError. Closed when the iteration ends, at the end of its `with` block or on close()."""

    def __init__(self, response: httpx.Response) -> None:
        super().__init__(response, None)

    def __iter__(self) -> Iterator[SpeechEvent]:
        if self._closed:
            raise OuteAIError("The stream is closed.")
        done = False
        try:
            for line in self._response.iter_lines():
                event = stream_event(line)
                if event is not None:
                    done = isinstance(event, SpeechDone)
                    yield event
        except httpx.HTTPError as exc:
            raise stream_broke_off(exc) from exc
        finally:
            self.close()
        stream_ended(done)


class OuteAI(BaseClient[httpx.Client]):
    """The OuteAI API, synchronously.

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
        http_client: httpx.Client | None = None,
        session: httpx.Client | None = None,
    ) -> None:
        super().__init__(
            ClientSettings(api_key, base_url, timeout, max_retries, retry_backoff, max_retry_delay),
            http_client if http_client is not None else session,
            httpx.Client,
            "`http_client` must be an httpx.Client (this SDK no longer uses requests).",
        )

    def __enter__(self) -> OuteAI:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes the HTTP client, unless it was passed in (its owner closes it)."""
        if self._owns_client:
            self.session.close()

    # ---------- the published SDK's calls ----------

    def health(self) -> dict[str, Any]:
        """The server's health: `{"success": true, "data": {"status", "api_version", "engine"}}`."""
        return self._send(health_request())

    def list_voices(self) -> list[Voice]:
        """Built-in voices and your voice clones, each with the `voice_id` to speak with."""
        return self._send(voices_list_request())

    def generate_speech(
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
        return self._send(speech_request(payload))

    def generate_speech_with_timestamps(
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
        """As generate_speech, and `result.words`: each word with when it is said (`start`, `end`
        in seconds) and where it is in `result.text` (`char_start`, `char_end`); none for Japanese."""
        payload = tts_payload(
            text=text,
            voice_id=voice_id,
            model=model,
            language=language,
            verify=verify,
            response_format=response_format,
            speed=speed,
        )
        return self._send(speech_with_timestamps_request(payload))

    def generate_speech_to_file(
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
        return self.generate_speech(
            text=text,
            voice_id=voice_id,
            model=model,
            language=language,
            verify=verify,
            response_format=response_format,
            speed=speed,
        ).save(path)

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
    ) -> SpeechStream:
        """Speech streamed as it is made (WAV unless `response_format` says otherwise; `speed` as in
        `generate_speech`). The request is sent at once (errors raise here); use the
        answer in a `with` block. `chunk_size=None` gives the chunks as they arrive."""
        payload = tts_payload(
            text=text,
            voice_id=voice_id,
            model=model,
            language=language,
            verify=verify,
            response_format=response_format,
            speed=speed,
        )
        return SpeechStream(self._send(speech_stream_request(payload)), chunk_size=chunk_size)

    def stream_speech_with_timestamps(
        self,
        *,
        text: str,
        voice_id: str,
        model: str = DEFAULT_MODEL,
        language: str | None = None,
        verify: bool = False,
        response_format: str = "wav",
        speed: float = 1.0,
    ) -> SpeechEventStream:
        """Speech streamed as it is made, with when each word is said: iterate over the answer (in a
        `with` block) for SpeechAudio pieces (joined, one file in `response_format`), the SpeechWords
        of each part of the text right after its audio, and a last SpeechDone (the charge, and the
        `text` the words' offsets point into). The request is sent at once (errors raise here)."""
        payload = tts_payload(
            text=text,
            voice_id=voice_id,
            model=model,
            language=language,
            verify=verify,
            response_format=response_format,
            speed=speed,
        )
        return SpeechEventStream(self._send(speech_stream_with_timestamps_request(payload)))

    def stream_speech_to_file(
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
        with self.stream_speech(
            text=text,
            voice_id=voice_id,
            model=model,
            chunk_size=chunk_size,
            language=language,
            verify=verify,
            response_format=response_format,
            speed=speed,
        ) as stream:
            return stream.save(path)

    # ---------- voice clones ----------

    def list_voice_clones(self) -> VoiceClones:
        """`{"voice_clones": [{"voice_id", "speaker_name", "created_at", "fit"}], "quota": {"used", "limit"}}`;
        `fit` says how the clone's background improvement goes (`VoiceCloneFit`)."""
        return self._send(voice_clones_list_request())

    def create_voice_clone(self, *, speaker_name: str, audio: AudioInput) -> VoiceClone:
        """A new voice from 5–10 s of one speaker (WAV or MP3, a path, bytes or a binary file)."""
        return self._send(voice_clone_create_request(speaker_name=speaker_name, audio=audio))

    def delete_voice_clone(self, voice_id: str) -> DeletedVoiceClone:
        return self._send(voice_clone_delete_request(voice_id))

    # ---------- pronunciation dictionary ----------

    def list_pronunciations(self) -> Pronunciations:
        """Your pronunciation rules, then those your teams share with you (`shared`), and your quota."""
        return self._send(pronunciations_list_request())

    def create_pronunciation(
        self,
        match: str,
        *,
        alias: str | None = None,
        ipa: str | None = None,
        case_sensitive: bool = False,
        whole_word: bool = True,
    ) -> Pronunciation:
        """A rule applied to every generation of yours: where the text says `match` (a word or a
        phrase), say `alias` instead, or the IPA sounds `ipa` (one of the two)."""
        request = pronunciation_create_request(
            match=match, alias=alias, ipa=ipa, case_sensitive=case_sensitive, whole_word=whole_word
        )
        return self._send(request)

    def delete_pronunciation(self, pronunciation_id: str) -> DeletedPronunciation:
        return self._send(pronunciation_delete_request(pronunciation_id))

    def import_pronunciations(self, content: bytes | str, *, format: str = "pls") -> ImportedPronunciations:
        """Adds a PLS (`format="pls"`) or CSV (`"csv"`) file's rules, a rule of a match you have
        replacing yours; a bad rule refuses the whole file."""
        return self._send(pronunciations_import_request(content, format=format))

    def export_pronunciations(self, *, format: str = "pls") -> str:
        """Your own rules as the text of a PLS or CSV file."""
        return self._send(pronunciations_export_request(format=format))

    # ---------- API tokens ----------

    def list_tokens(self) -> list[Token]:
        """Your active tokens, their secrets masked."""
        return self._send(tokens_list_request())

    def create_token(self, name: str) -> CreatedToken:
        """A new token; its full secret is in `token`, and only in this answer."""
        return self._send(token_create_request(name))

    def revoke_token(self, token_id: str) -> RevokedToken:
        return self._send(token_revoke_request(token_id))

    # ---------- your generations ----------

    def list_generations(self, *, after: str | None = None, limit: int = 20) -> GenerationPage:
        """A page of everything you generated (Studio, API, legacy, /v1), newest first: `items`,
        `has_more`, and `next` to pass as `after` for the page after it."""
        return self._send(generations_list_request(after=after, limit=limit))

    def iter_generations(self, *, limit: int = GENERATIONS_PAGE_MAX) -> Iterator[Generation]:
        """Every generation, newest first, a page of `limit` at a time. Those made while it pages
        are newer than where it stands, so each is given once and none is skipped."""
        after: str | None = None
        while True:
            page = self.list_generations(after=after, limit=limit)
            yield from page.items
            after = next_page_after(page)
            if after is None:
                return

    def download_generation(
        self, generation_id: str, path_or_file: str | os.PathLike[str] | IO[bytes]
    ) -> Path | IO[bytes]:
        """A generation's audio (24 kHz mono WAV) into a path or a binary file; returns it
        (DownloadTarget: a download that breaks off leaves no file at a path)."""
        response = self._send(generation_audio_request(generation_id))
        try:
            target = DownloadTarget(path_or_file)
            with target as handle:
                for chunk in response.iter_bytes():
                    handle.write(chunk)
        finally:
            response.close()
        return target.result

    def generation_captions(self, generation_id: str, *, format: str = "srt") -> str:
        """A generation's captions from when each of its words is said: SRT (default) or WebVTT
        (`format="vtt"`), as text to save beside the audio. 404 for a take without word timings."""
        return self._send(generation_captions_request(generation_id, format=format))

    # ---------- transport ----------

    def _send(self, request: ApiRequest[T]) -> T:
        """Sends `request`, with the retries the client was set up for, and reads its answer if it is
        a success; else raises OuteAIAPIError (OuteAIError when the server could not be reached)."""
        attempt = 0
        while True:
            try:
                response = self.session.send(self._build_request(request), stream=request.stream)
            except httpx.HTTPError as exc:
                delay = self._retry_delay_after_failure(request, attempt, exc)
            else:
                if response.is_success:
                    return request.parse(response)
                try:
                    response.read()
                except httpx.HTTPError as exc:
                    raise transport_error(self._settings, request.path, exc) from exc
                finally:
                    response.close()
                delay = self._retry_delay_after_answer(request, attempt, response)
            attempt += 1
            time.sleep(delay)
