"""httpx client for the engine (used by the Celery workers). No model, no numpy.

    from contextlib import closing
    from engine.client import EngineClient, Progress, Audio, Done, EngineError, EngineUnavailable

    client = EngineClient("http://127.0.0.1:8001")
    with closing(client.synthesize("Hello there.", "EN-FEMALE-1-NEUTRAL", max_seconds=30)) as events:
        for ev in events:
            if isinstance(ev, Progress): ...   # stage "warming_up" | "generating" (chunk i of n, seconds so far)
            elif isinstance(ev, Audio): ...    # ev.pcm: s16le mono 24 kHz bytes
            elif isinstance(ev, Words): ...    # ev.words: each word of chunk ev.chunk, its start/end (s) and offsets
            elif isinstance(ev, Done): ...     # ev.seconds, ev.truncated; always the last event

    profile = client.encode_speaker(wav_bytes)["profile"]   # a 5-10 s reference clip -> speaker profile
    events = client.synthesize("Hello.", profile=profile)   # speak with it ('voice' is then ignored)

    async with AsyncEngineClient("http://127.0.0.1:8001") as client:   # from async code (the web)
        profile = (await client.encode_speaker(wav_bytes))["profile"]

Failures:
- ``EngineError(code, message)``: the engine refused the request (4xx, e.g.
  ``unknown_voice``) or reported an in-band error frame mid-stream;
- ``EngineUnavailable(message)``: could not connect, timed out, 5xx, or the
  stream broke off / was garbled. Both derive from ``EngineFailure``.

Closing the generator early (``gen.close()``, leaving a ``closing(...)``
block, or garbage collection) closes the HTTP response; the engine notices
the disconnect and stops synthesising.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx

from engine.protocol import (
    CONTENT_TYPE,
    Audio,
    Done,
    Error,
    Event,
    FrameDecoder,
    Progress,
    ProtocolError,
    Verified,
    Word,
    Words,
    frame_to_event,
)

__all__ = [
    "AsyncEngineClient",
    "Audio",
    "Done",
    "EngineClient",
    "EngineError",
    "EngineFailure",
    "EngineUnavailable",
    "Event",
    "Progress",
    "Verified",
    "Word",
    "Words",
]


class EngineFailure(Exception):
    """Base class of everything the client raises."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class EngineError(EngineFailure):
    """The engine answered, and said no (4xx before the stream, or an E frame)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class EngineUnavailable(EngineFailure):
    """No usable answer: connection refused/reset, timeout, 5xx, broken stream."""


class EngineClient:
    def __init__(self, base_url: str, timeout: float = 60.0, *, transport: httpx.BaseTransport | None = None) -> None:
        """``timeout`` bounds connecting (at most 5 s of it) and each wait for
        bytes, not the whole synthesis; a cold start (model load) must fit in it."""
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )

    # --- lifecycle -------------------------------------------------------------
    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> EngineClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- helpers -----------------------------------------------------------------
    @staticmethod
    def _raise_for_status(resp: httpx.Response) -> None:
        if resp.status_code < 400:
            return
        try:
            body = resp.json()
        except ValueError:
            body = None
        if resp.status_code >= 500:
            detail = body.get("message") if isinstance(body, dict) else resp.text[:200]
            raise EngineUnavailable(f"engine answered {resp.status_code}: {detail}")
        if isinstance(body, dict) and "code" in body:
            raise EngineError(str(body["code"]), str(body.get("message", "")))
        raise EngineError(f"http_{resp.status_code}", resp.text[:200] or resp.reason_phrase)

    def _request_json(self, method: str, path: str, **kwargs):
        try:
            resp = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise EngineUnavailable(f"engine timed out on {path}: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"engine unreachable at {self.base_url}: {exc!r}") from exc
        return _json_answer(resp, path)

    # --- API -----------------------------------------------------------------------
    def health(self) -> dict:
        return self._request_json("GET", "/health")

    def voices(self) -> list[dict]:
        return list(self._request_json("GET", "/voices")["voices"])

    def encode_speaker(self, wav_bytes: bytes) -> dict:
        """Encode a reference clip (WAV bytes, 5-10 s of one speaker) into a
        speaker profile: the engine's whole answer,
        ``{"profile": {...}, "analysis": {...}}``. Refusals (``no_speech``,
        ``bad_audio``...) raise ``EngineError``."""
        return _speaker_encoded(self._request_json("POST", "/speakers/encode", **_encode_request(wav_bytes)))

    def synthesize(
        self,
        text: str,
        voice: str | None = None,
        *,
        max_seconds: float | None = None,
        temperature: float | None = None,
        speed: float = 1.0,
        profile: dict | None = None,
        start_chunk: int = 0,
        tenant: str | None = None,
        language: str | None = None,
        verify: bool = False,
        script: list[dict] | None = None,
        whole: bool = False,
    ) -> Iterator[Progress | Audio | Verified | Words | Done]:
        """Stream a synthesis as typed events (a generator: nothing is sent
        until the first ``next()``). The last event is ``Done``. With a
        speaker ``profile`` (from ``encode_speaker``) ``voice`` is ignored. ``start_chunk`` skips
        the text's first chunks (to resume work another engine began). Requests of one ``tenant``
        (an account) share the engine fairly with other tenants'. ``language`` ("en", "ja"): the
        text's, which the voice's engine must speak; without it the engine detects it. With ``verify``
        each chunk is heard back (a ``Verified`` event after its audio) and ``Done.verification``
        sums it up. ``speed`` (0.25..4.0) is the speaking rate, 1 the voice's own. Each chunk's
        audio is followed by a ``Words`` event (its words' times and offsets; none for Japanese).
        ``script`` (core.markup.script_to_json's: pieces to say and pauses) is what is spoken
        instead of ``text``, which its offsets point into (engine/README.md, "Script"). ``whole``:
        the caller delivers the take only once it is whole, so no first phrase is cut for a quick
        first audio (the same request must say it again on a resumed job: chunks are numbered by it)."""
        body: dict[str, object] = {"text": text, "voice": voice, "max_seconds": max_seconds, "temperature": temperature}
        if speed != 1.0:  # the voice's own pace needs no field
            body["speed"] = speed
        if start_chunk:
            body["start_chunk"] = start_chunk
        if profile is not None:
            body["profile"] = profile
        if tenant is not None:
            body["tenant"] = tenant
        if language is not None:
            body["language"] = language
        if script is not None:  # sent only with one, so an engine from before markup is not refused
            body["script"] = script
        if verify:  # sent only when asked, so an engine from before verified takes is not refused
            body["verify"] = True
        if whole:
            body["whole"] = True
        try:
            with self._client.stream("POST", "/synthesize", json=body) as resp:
                if resp.status_code >= 400:
                    resp.read()
                    self._raise_for_status(resp)
                ctype = resp.headers.get("content-type", "").split(";")[0].strip()
                if ctype != CONTENT_TYPE:
                    raise EngineUnavailable(f"unexpected content type {ctype!r} from the engine")
                decoder = FrameDecoder()
                for data in resp.iter_bytes():
                    for frame in decoder.feed(data):
                        event = frame_to_event(frame)
                        if event is None:
                            continue  # unknown frame type: ignore
                        if isinstance(event, Error):
                            raise EngineError(event.code, event.message)
                        yield event
                        if isinstance(event, Done):
                            return
                decoder.close()
                raise EngineUnavailable("the engine's stream ended before the done frame")
        except httpx.TimeoutException as exc:
            raise EngineUnavailable(f"engine timed out: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"engine connection failed ({self.base_url}): {exc!r}") from exc
        except ProtocolError as exc:
            raise EngineUnavailable(f"garbled stream from the engine: {exc}") from exc


def _json_answer(resp: httpx.Response, path: str):
    EngineClient._raise_for_status(resp)
    try:
        return resp.json()
    except ValueError as exc:
        raise EngineUnavailable(f"engine sent non-JSON for {path}") from exc


def _encode_request(wav_bytes: bytes) -> dict:
    return {"content": wav_bytes, "headers": {"content-type": "audio/wav"}}


def _speaker_encoded(data) -> dict:
    if not isinstance(data, dict) or not isinstance(data.get("profile"), dict):
        raise EngineUnavailable("engine's /speakers/encode answer has no profile")
    return data


class AsyncEngineClient:
    """The engine's speaker encoding for async code (the web's clone requests), on
    httpx.AsyncClient: the same requests, answers and failures as EngineClient's."""

    def __init__(
        self, base_url: str, timeout: float = 60.0, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def __aenter__(self) -> AsyncEngineClient:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def _request_json(self, method: str, path: str, **kwargs):
        try:
            resp = await self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise EngineUnavailable(f"engine timed out on {path}: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise EngineUnavailable(f"engine unreachable at {self.base_url}: {exc!r}") from exc
        return _json_answer(resp, path)

    async def encode_speaker(self, wav_bytes: bytes) -> dict:
        """As EngineClient.encode_speaker."""
        return _speaker_encoded(await self._request_json("POST", "/speakers/encode", **_encode_request(wav_bytes)))
