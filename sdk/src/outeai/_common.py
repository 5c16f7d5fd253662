"""What the sync and the async clients share: settings, every call's request and the reading of
its answer, errors and retries. The clients only send the ApiRequests built here, each over its
own httpx client, and hand the answers back to them to be read."""

from __future__ import annotations

import base64
import dataclasses
import email.utils
import json
import logging
import mimetypes
import os
import random
import struct
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Generic, TypeVar, Union, cast

import httpx

from ._version import SDK_VERSION
from .exceptions import OuteAIAPIError, OuteAIError
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
    Word,
)

DEFAULT_BASE_URL = "https://outeai.com"
DEFAULT_MODEL = "outetts_1_pro"
DEFAULT_TIMEOUT = 120
DEFAULT_CHUNK_SIZE = 8192
DEFAULT_SAMPLE_RATE = 24000
DEFAULT_CHANNELS = 1
DEFAULT_SAMPLE_WIDTH = 2
DEFAULT_MAX_RETRIES = 0
DEFAULT_RETRY_BACKOFF = 0.5
DEFAULT_MAX_RETRY_DELAY = 60.0

API_KEY_ENV = "OUTEAI_API_KEY"
BASE_URL_ENV = "OUTEAI_BASE_URL"

# Answers worth another try: the rate limit and an unavailable speech provider.
RETRY_STATUSES = frozenset({429, 502})
# Failures where the request never reached the server, so sending it again cannot do it twice.
RETRY_EXCEPTIONS: tuple[type[Exception], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

logger = logging.getLogger("outeai")

TimeoutTypes = Union[float, int, httpx.Timeout, None]
AudioInput = Union[str, "os.PathLike[str]", bytes, bytearray, IO[bytes]]


@dataclass(frozen=True)
class SpeechResult:
    """A whole generated audio file: WAV unless another `response_format` was asked for
    (`content_type` says which). `wav_bytes` holds the file whatever its format."""

    wav_bytes: bytes
    content_type: str = "audio/wav"
    # With verify=True: what the check of each part found, the X-Verification header
    # ("passed; checked=2; respoken=0", "failed; ...; failed=1", "unchecked; ..."); else None.
    verification: str | None = None
    sample_rate: int = DEFAULT_SAMPLE_RATE
    channels: int = DEFAULT_CHANNELS
    sample_width: int = DEFAULT_SAMPLE_WIDTH
    # With generate_speech_with_timestamps: each word and when it is said, with its offsets into
    # `text`, the text as it was spoken (the input after the server's cleaning); else empty.
    words: list[Word] = field(default_factory=list)
    text: str | None = None

    def save(self, path: str | os.PathLike[str]) -> Path:
        output_path = Path(path)
        output_path.write_bytes(self.wav_bytes)
        return output_path

    @property
    def duration(self) -> float:
        """Seconds of audio in a WAV or PCM file (0.0 for the compressed formats)."""
        header = 0 if self.content_type == RESPONSE_FORMATS["pcm"] else _wav_data_offset(self.wav_bytes)
        frame = self.channels * self.sample_width
        if header is None or not frame or not self.sample_rate:
            return 0.0
        return (len(self.wav_bytes) - header) // frame / self.sample_rate


@dataclass(frozen=True)
class SpeechAudio:
    """A piece of a stream_speech_with_timestamps take: the next bytes of its audio file, in
    `format` (the request's response_format). Joined in order, the pieces are one file."""

    audio: bytes
    format: str


@dataclass(frozen=True)
class SpeechWords:
    """The words of part `chunk` (1-based) of the text, sent right after that part's audio: when
    each is said in the take's time, and where it is in `SpeechDone.text`."""

    chunk: int
    words: list[Word]


@dataclass(frozen=True)
class SpeechDone:
    """The end of a stream_speech_with_timestamps take: its generation, length and charge."""

    generation_id: str
    seconds: float
    credits_charged: str  # a decimal string ("0.0103")
    text: str  # the text as it was spoken, the words' offsets' text
    verification: dict[str, Any] | None = None  # with verify=True: what the check found


SpeechEvent = Union[SpeechAudio, SpeechWords, SpeechDone]


@dataclass(frozen=True)
class GenerationPage:
    """A page of your history, newest first: pass `next` as `after` for the one after it."""

    items: list[Generation]
    has_more: bool
    next: str | None


GENERATIONS_PAGE_MAX = 100


def generations_query(after: str | None, limit: int) -> dict[str, str | int]:
    """The query of GET /api/v1/generations, checked as the server checks it."""
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= GENERATIONS_PAGE_MAX:
        raise OuteAIError(f"`limit` must be an integer from 1 to {GENERATIONS_PAGE_MAX}.")
    if after is not None and (not isinstance(after, str) or not after.strip()):
        raise OuteAIError("`after` must be a page's `next` cursor, or None for the newest.")
    return {"limit": limit, **({"after": after} if after else {})}


def _generation_page(response: httpx.Response) -> GenerationPage:
    data = json_data(response)
    items = data.get("items")
    if not isinstance(items, list):
        raise OuteAIError("Expected `data.items` to be a list.")
    return GenerationPage(items=items, has_more=bool(data.get("has_more")), next=data.get("next"))


def generation_audio_path(generation_id: object) -> str:
    return f"/api/v1/generations/{required_id(generation_id, 'generation_id')}/audio"


class DownloadTarget:
    """Where a download goes, a path or a binary file open for writing: `with` it to write the
    chunks. A download that breaks off raises OuteAIError and leaves no file at a path (a short
    WAV would look like a whole one); `result` is the path, or the file it was given."""

    def __init__(self, path_or_file: str | os.PathLike[str] | IO[bytes]) -> None:
        if isinstance(path_or_file, (str, os.PathLike)):
            self.path: Path | None = Path(path_or_file)
            self.handle: IO[bytes] = self.path.open("wb")
        elif hasattr(path_or_file, "write"):
            self.path, self.handle = None, path_or_file
        else:
            raise OuteAIError("`path_or_file` must be a file path or a binary file object open for writing.")

    @property
    def result(self) -> Path | IO[bytes]:
        return self.path if self.path is not None else self.handle

    def __enter__(self) -> IO[bytes]:
        return self.handle

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.path is not None:
            self.handle.close()
            if exc_type is not None:
                self.path.unlink(missing_ok=True)
        if isinstance(exc, httpx.HTTPError):
            raise OuteAIError(f"The download broke off: {exc}") from exc


def speech_result(wav_bytes: bytes, content_type: str, verification: str | None = None) -> SpeechResult:
    rate, channels, width = wav_format(wav_bytes)
    return SpeechResult(
        wav_bytes=wav_bytes,
        content_type=content_type,
        sample_rate=rate,
        channels=channels,
        sample_width=width,
        verification=verification,
    )


def wav_format(wav: bytes) -> tuple[int, int, int]:
    """(sample_rate, channels, sample_width) from a WAV header; the API's defaults if it has none."""
    for chunk_id, offset, _ in _wav_chunks(wav):
        if chunk_id == b"fmt " and offset + 16 <= len(wav):
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", wav, offset)
            return rate, channels, bits // 8
    return DEFAULT_SAMPLE_RATE, DEFAULT_CHANNELS, DEFAULT_SAMPLE_WIDTH


def _wav_data_offset(wav: bytes) -> int | None:
    for chunk_id, offset, _ in _wav_chunks(wav):
        if chunk_id == b"data":
            return offset
    return None


def wav_sizes_write(handle: IO[bytes]) -> None:
    """Writes a saved stream's true sizes into its WAV header, which was sent before the length was
    known: the RIFF size and the data chunk's. A file that is not a WAV is left as it came."""
    end = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    data_offset = _wav_data_offset(handle.read(4096))
    if data_offset is None:
        return
    handle.seek(4)
    handle.write(struct.pack("<I", min(end - 8, 0xFFFFFFFF)))
    handle.seek(data_offset - 4)
    handle.write(struct.pack("<I", min(end - data_offset, 0xFFFFFFFF)))
    handle.seek(end)


def _wav_chunks(wav: bytes) -> Iterator[tuple[bytes, int, int]]:
    if len(wav) < 12 or wav[:4] != b"RIFF" or wav[8:12] != b"WAVE":
        return
    position = 12
    while position + 8 <= len(wav):
        chunk_id, size = wav[position : position + 4], struct.unpack_from("<I", wav, position + 4)[0]
        yield chunk_id, position + 8, size
        if chunk_id == b"data":
            return
        position += 8 + size + (size & 1)


class ClientSettings:
    """The settings both clients resolve the same way, arguments first, then the environment."""

    def __init__(
        self,
        api_key: str | None,
        base_url: str | None,
        timeout: TimeoutTypes,
        max_retries: int,
        retry_backoff: float,
        max_retry_delay: float,
    ) -> None:
        if api_key is None:
            api_key = os.environ.get(API_KEY_ENV)
        api_key = api_key.strip() if isinstance(api_key, str) else ""
        if not api_key:
            raise OuteAIError(f"`api_key` must be a non-empty string (or set the {API_KEY_ENV} environment variable).")
        if base_url is None:
            base_url = os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        if not isinstance(base_url, str) or not base_url.strip():
            raise OuteAIError("`base_url` must be a non-empty string.")
        if not isinstance(max_retries, int) or isinstance(max_retries, bool) or max_retries < 0:
            raise OuteAIError("`max_retries` must be an integer of 0 or more.")
        if retry_backoff < 0 or max_retry_delay < 0:
            raise OuteAIError("`retry_backoff` and `max_retry_delay` must not be negative.")
        self.api_key = api_key
        self.base_url = base_url.strip().rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.retry_backoff = float(retry_backoff)
        self.max_retry_delay = float(max_retry_delay)

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self.api_key}",
            "Accept": "application/json",
            "User-Agent": f"outeai-python-sdk/{SDK_VERSION}",
        }

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"

    def retry_delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Seconds to wait before retry number `attempt + 1`: the server's Retry-After when it sends
        one, else exponential backoff; with jitter, and never more than max_retry_delay."""
        retry_after = retry_after_seconds(response.headers.get("Retry-After")) if response is not None else None
        if retry_after is not None:
            # Never earlier than asked; a little later, so that waiting clients do not all come back at once.
            delay = retry_after * random.uniform(1.0, 1.1)
        else:
            delay = self.retry_backoff * (2**attempt) * random.uniform(0.75, 1.25)
        return max(0.0, min(delay, self.max_retry_delay))


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds, from its delta-seconds or its HTTP-date form."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())


# The formats the API answers in, and their Content-Type (the server's core.audio_formats).
RESPONSE_FORMATS = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "pcm": "audio/pcm",
}
MIN_SPEED, MAX_SPEED = 0.25, 4.0


def tts_payload(
    *,
    text: str,
    voice_id: str,
    model: str,
    language: str | None = None,
    verify: bool = False,
    response_format: str = "wav",
    speed: float = 1.0,
) -> dict[str, object]:
    text = text.strip() if isinstance(text, str) else ""
    voice_id = voice_id.strip() if isinstance(voice_id, str) else ""
    model = model.strip() if isinstance(model, str) else ""

    if not text:
        raise OuteAIError("`text` must be a non-empty string.")
    if not voice_id:
        raise OuteAIError("`voice_id` must be a non-empty string.")
    if not model:
        raise OuteAIError("`model` must be a non-empty string.")
    if language is not None and (not isinstance(language, str) or not language.strip()):
        raise OuteAIError("`language` must be a language tag such as 'en' or 'ja', or None to detect it.")
    if not isinstance(verify, bool):
        raise OuteAIError("`verify` must be True or False.")
    if response_format not in RESPONSE_FORMATS:
        raise OuteAIError(f"`response_format` must be one of {', '.join(RESPONSE_FORMATS)}.")
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not MIN_SPEED <= speed <= MAX_SPEED:
        raise OuteAIError(f"`speed` must be a number from {MIN_SPEED} to {MAX_SPEED}.")

    payload: dict[str, object] = {
        "text": text,
        "voice_id": voice_id,
        "model_name": model,
        "response_format": response_format,
    }
    if speed != 1.0:  # sent only when asked, as servers before speed refuse unknown fields
        payload["speed"] = speed
    if language is not None:
        payload["language"] = language.strip()
    if verify:  # sent only when asked, as servers before verified takes refuse unknown fields
        payload["verify"] = True
    return payload


def required_id(value: object, name: str) -> str:
    """An id for a URL path (a string or a UUID), checked and quoted."""
    text = str(value).strip() if isinstance(value, (str, uuid.UUID)) else ""
    if not text:
        raise OuteAIError(f"`{name}` must be a non-empty string.")
    return urllib.parse.quote(text, safe="")


def clone_upload(speaker_name: str, audio: AudioInput) -> tuple[dict[str, str], dict[str, tuple[str, bytes, str]]]:
    """The multipart form of POST /api/v1/voice-clones: (data, files)."""
    speaker_name = speaker_name.strip() if isinstance(speaker_name, str) else ""
    if not speaker_name:
        raise OuteAIError("`speaker_name` must be a non-empty string.")
    if isinstance(audio, (bytes, bytearray)):
        content, filename = bytes(audio), None
    elif isinstance(audio, (str, os.PathLike)):
        path = Path(audio)
        try:
            content = path.read_bytes()
        except OSError as exc:
            raise OuteAIError(f"Cannot read the audio file {str(path)!r}: {exc}") from exc
        filename = path.name
    elif hasattr(audio, "read"):
        content = audio.read()
        if not isinstance(content, (bytes, bytearray)):
            raise OuteAIError("`audio` must be opened in binary mode.")
        content = bytes(content)
        name = getattr(audio, "name", None)
        filename = Path(name).name if isinstance(name, str) else None
    else:
        raise OuteAIError("`audio` must be a file path, bytes, or a binary file object.")
    if not content:
        raise OuteAIError("`audio` is empty.")
    content_type = _audio_type(content, filename)
    if filename is None:
        filename = "audio.mp3" if content_type == "audio/mpeg" else "audio.wav"
    return {"speaker_name": speaker_name}, {"audio": (filename, content, content_type)}


def _audio_type(content: bytes, filename: str | None) -> str:
    if content[:4] == b"RIFF":
        return "audio/wav"
    if content[:3] == b"ID3" or (len(content) > 1 and content[0] == 0xFF and content[1] & 0xE0 == 0xE0):
        return "audio/mpeg"
    guessed = mimetypes.guess_type(filename)[0] if filename else None
    return guessed or "application/octet-stream"


def api_error(response: httpx.Response) -> OuteAIAPIError:
    """The OuteAIAPIError of a non-2xx answer whose body has been read: the envelope's code and message."""
    payload: dict[str, Any] | None = None
    code = None
    message = ""
    try:
        parsed = response.json()
    except ValueError:
        message = response.text.strip()
    else:
        if isinstance(parsed, dict):
            payload = parsed
            code = parsed.get("code")
            message = str(parsed.get("message") or "")
    if not message:
        message = f"Request failed with status {response.status_code}."
    return OuteAIAPIError(message, status_code=response.status_code, code=code, payload=payload)


def json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        payload = response.json()
    except ValueError as exc:
        raise OuteAIError("Expected a JSON object in the API response.") from exc
    if not isinstance(payload, dict):
        raise OuteAIError("Expected a JSON object in the API response.")
    return payload


def json_data(response: httpx.Response) -> dict[str, Any]:
    data = json_object(response).get("data", {})
    if not isinstance(data, dict):
        raise OuteAIError("Expected `data` to be a JSON object.")
    return data


def transport_error(settings: ClientSettings, path: str, exc: Exception) -> OuteAIError:
    return OuteAIError(f"Request to {settings.url(path)} failed: {exc}")


# ---------- the calls: each request, built once, and how its answer is read ----------

T = TypeVar("T")
HttpClientT = TypeVar("HttpClientT", httpx.Client, httpx.AsyncClient)


def _raw(response: httpx.Response) -> httpx.Response:
    return response


def _data_as(shape: type[T]) -> Callable[[httpx.Response], T]:
    """The parser of an answer whose `data` object is a `shape` (a TypedDict: typed, not checked)."""
    return lambda response: cast(T, json_data(response))


def _data_list(key: str) -> Callable[[httpx.Response], list[Any]]:
    """The parser of an answer whose `data` holds its list under `key`."""
    return lambda response: cast("list[Any]", json_data(response).get(key, []))


@dataclass(frozen=True)
class ApiRequest(Generic[T]):
    """One call of the API: what to send, and `parse`, which reads a successful answer into what
    the client's method returns. A `stream` request's answer is the open response, its body unread."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    json: dict[str, object] | None = None
    data: dict[str, str] | None = None
    files: dict[str, tuple[str, bytes, str]] | None = None
    params: dict[str, str | int] | None = None
    content: bytes | None = None  # a raw body (a file), sent with its Content-Type in `headers`
    headers: dict[str, str] = field(default_factory=dict)
    stream: bool = False


def health_request() -> ApiRequest[dict[str, Any]]:
    return ApiRequest("GET", "/api/v1/health", json_object)


def voices_list_request() -> ApiRequest[list[Voice]]:
    return ApiRequest("GET", "/api/v1/voices", _data_list("voices"))


def speech_request(payload: dict[str, object]) -> ApiRequest[SpeechResult]:
    """POST /api/v1/tts_non_stream with a tts_payload: the whole file, as a SpeechResult."""
    content_type = RESPONSE_FORMATS[str(payload["response_format"])]

    def parse(response: httpx.Response) -> SpeechResult:
        return speech_result(
            response.content, response.headers.get("Content-Type", content_type), response.headers.get("X-Verification")
        )

    return ApiRequest("POST", "/api/v1/tts_non_stream", parse, json=payload, headers={"Accept": content_type})


def speech_with_timestamps_request(payload: dict[str, object]) -> ApiRequest[SpeechResult]:
    """POST /api/v1/tts_with_timestamps with a tts_payload: the whole file and its words."""

    def parse(response: httpx.Response) -> SpeechResult:
        data = json_data(response)
        audio = base64.b64decode(data["audio_base64"])
        result = speech_result(audio, RESPONSE_FORMATS[data["response_format"]], response.headers.get("X-Verification"))
        return dataclasses.replace(result, words=list(data["words"]), text=data["text"])

    return ApiRequest("POST", "/api/v1/tts_with_timestamps", parse, json=payload)


def speech_stream_request(payload: dict[str, object]) -> ApiRequest[httpx.Response]:
    """POST /api/v1/tts_stream with a tts_payload: the open response, for a client's stream to read."""
    headers = {"Accept": RESPONSE_FORMATS[str(payload["response_format"])]}
    return ApiRequest("POST", "/api/v1/tts_stream", _raw, json=payload, headers=headers, stream=True)


STREAM_EVENTS_TYPE = "application/x-ndjson"


def speech_stream_with_timestamps_request(payload: dict[str, object]) -> ApiRequest[httpx.Response]:
    """POST /api/v1/tts_stream_with_timestamps with a tts_payload: the open response, its body
    JSON lines (stream_event reads each)."""
    headers = {"Accept": STREAM_EVENTS_TYPE}
    return ApiRequest("POST", "/api/v1/tts_stream_with_timestamps", _raw, json=payload, headers=headers, stream=True)


def stream_event(line: str) -> SpeechEvent | None:
    """One line of tts_stream_with_timestamps as its event; None for a blank line or an event this
    SDK does not know (a newer server's). An `error` event (the take failed after the stream
    began) raises its OuteAIAPIError."""
    if not line.strip():
        return None
    try:
        event = json.loads(line)
        kind = event["type"]
        if kind == "audio":
            return SpeechAudio(audio=base64.b64decode(event["audio_base64"]), format=event["format"])
        if kind == "words":
            return SpeechWords(chunk=int(event["chunk"]), words=list(event["words"]))
        if kind == "done":
            return SpeechDone(
                generation_id=event["generation_id"],
                seconds=float(event["seconds"]),
                credits_charged=event["credits_charged"],
                text=event["text"],
                verification=event.get("verification"),
            )
        if kind == "error":
            code, message = event.get("code"), str(event.get("message") or "The generation failed.")
            raise OuteAIAPIError(message, code=code, payload=event)
    except (ValueError, KeyError, TypeError) as exc:
        raise OuteAIError(f"Could not read a line of the stream: {line[:200]!r}") from exc
    return None


def stream_ended(done: bool) -> None:
    """After the stream's last line: a take whose stream ended without `done` is not whole."""
    if not done:
        raise OuteAIError("The stream ended before the take was done.")


def voice_clones_list_request() -> ApiRequest[VoiceClones]:
    return ApiRequest("GET", "/api/v1/voice-clones", _data_as(VoiceClones))


def voice_clone_create_request(*, speaker_name: str, audio: AudioInput) -> ApiRequest[VoiceClone]:
    data, files = clone_upload(speaker_name, audio)
    return ApiRequest("POST", "/api/v1/voice-clones", _data_as(VoiceClone), data=data, files=files)


def voice_clone_delete_request(voice_id: str) -> ApiRequest[DeletedVoiceClone]:
    path = f"/api/v1/voice-clones/{required_id(voice_id, 'voice_id')}"
    return ApiRequest("DELETE", path, _data_as(DeletedVoiceClone))


def pronunciations_list_request() -> ApiRequest[Pronunciations]:
    return ApiRequest("GET", "/api/v1/pronunciations", _data_as(Pronunciations))


def pronunciation_create_request(
    *, match: str, alias: str | None, ipa: str | None, case_sensitive: bool, whole_word: bool
) -> ApiRequest[Pronunciation]:
    if (alias is None) == (ipa is None):
        raise OuteAIError("Give either `alias` or `ipa`.")
    body: dict[str, object] = {"match": match, "case_sensitive": case_sensitive, "whole_word": whole_word}
    body.update({"alias": alias} if alias is not None else {"ipa": ipa})
    return ApiRequest("POST", "/api/v1/pronunciations", _data_as(Pronunciation), json=body)


def pronunciation_delete_request(pronunciation_id: str) -> ApiRequest[DeletedPronunciation]:
    path = f"/api/v1/pronunciations/{required_id(pronunciation_id, 'pronunciation_id')}"
    return ApiRequest("DELETE", path, _data_as(DeletedPronunciation))


PRONUNCIATION_FILE_TYPES = {"pls": "application/pls+xml", "csv": "text/csv"}


def _pronunciation_file_type(format: str) -> str:
    if format not in PRONUNCIATION_FILE_TYPES:
        raise ValueError(f"format must be one of {', '.join(PRONUNCIATION_FILE_TYPES)}")
    return PRONUNCIATION_FILE_TYPES[format]


def pronunciations_import_request(content: bytes | str, *, format: str) -> ApiRequest[ImportedPronunciations]:
    """POST a PLS or CSV file's rules into your dictionary (all or nothing)."""
    body = content.encode("utf-8") if isinstance(content, str) else bytes(content)
    headers = {"Content-Type": _pronunciation_file_type(format)}
    return ApiRequest(
        "POST", "/api/v1/pronunciations/import", _data_as(ImportedPronunciations), content=body, headers=headers
    )


def pronunciations_export_request(*, format: str) -> ApiRequest[str]:
    """GET your own rules as a PLS or CSV file's text."""
    _pronunciation_file_type(format)
    return ApiRequest("GET", "/api/v1/pronunciations/export", _text, params={"format": format})


def tokens_list_request() -> ApiRequest[list[Token]]:
    return ApiRequest("GET", "/api/v1/tokens", _data_list("tokens"))


def token_create_request(name: str) -> ApiRequest[CreatedToken]:
    name = name.strip() if isinstance(name, str) else ""
    if not name:
        raise OuteAIError("`name` must be a non-empty string.")
    return ApiRequest("POST", "/api/v1/tokens", _data_as(CreatedToken), json={"name": name})


def token_revoke_request(token_id: str) -> ApiRequest[RevokedToken]:
    path = f"/api/v1/tokens/{required_id(token_id, 'token_id')}"
    return ApiRequest("DELETE", path, _data_as(RevokedToken))


def generations_list_request(*, after: str | None, limit: int) -> ApiRequest[GenerationPage]:
    params = generations_query(after, limit)
    return ApiRequest("GET", "/api/v1/generations", _generation_page, params=params)


def generation_audio_request(generation_id: str) -> ApiRequest[httpx.Response]:
    """GET a generation's audio: the open response, for the client to write into a DownloadTarget."""
    return ApiRequest("GET", generation_audio_path(generation_id), _raw, headers={"Accept": "audio/wav"}, stream=True)


CAPTION_FORMATS = ("srt", "vtt")


def generation_captions_request(generation_id: str, *, format: str) -> ApiRequest[str]:
    """GET a generation's captions (SRT or WebVTT) from its words' timings, as text."""
    if format not in CAPTION_FORMATS:
        raise ValueError(f"format must be one of {', '.join(CAPTION_FORMATS)}")
    path = f"/api/v1/generations/{required_id(generation_id, 'generation_id')}/captions"
    return ApiRequest("GET", path, _text, params={"format": format})


def _text(response: httpx.Response) -> str:
    return response.text


def next_page_after(page: GenerationPage) -> str | None:
    """The cursor of the page after `page`, None when it is the last."""
    return page.next if page.has_more and page.next else None


@contextmanager
def stream_file(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """The file a stream is saved into: given its true WAV sizes once all is written; removed if the
    writing fails, as a short WAV would look like a finished one."""
    output_path = Path(path)
    with output_path.open("w+b") as handle:
        try:
            yield handle
        except BaseException:
            handle.close()
            output_path.unlink(missing_ok=True)
            raise
        wav_sizes_write(handle)


class BaseSpeechStream:
    """What SpeechStream and AsyncSpeechStream share: the answer (None until an async one is opened)."""

    def __init__(self, response: httpx.Response | None, chunk_size: int | None) -> None:
        self._response = response
        self._chunk_size = chunk_size
        self._closed = False

    def _opened(self) -> httpx.Response:
        if self._response is None:
            raise OuteAIError("The async stream has not been opened yet.")
        return self._response

    @property
    def headers(self) -> httpx.Headers:
        return self._opened().headers

    @property
    def status_code(self) -> int:
        return self._opened().status_code

    @property
    def closed(self) -> bool:
        return self._closed


def stream_broke_off(exc: httpx.HTTPError) -> OuteAIError:
    return OuteAIError(f"The stream broke off: {exc}")


# ---------- what both clients are, over their own httpx client ----------


class BaseClient(Generic[HttpClientT]):
    """The settings, the HTTP client and the retry decisions of OuteAI and AsyncOuteAI, which add
    only the sending (sync or awaited) of the ApiRequests above."""

    def __init__(
        self,
        settings: ClientSettings,
        http_client: HttpClientT | None,
        http_client_type: type[HttpClientT],
        wrong_client: str,
    ) -> None:
        if http_client is not None and not isinstance(http_client, http_client_type):
            raise OuteAIError(wrong_client)
        self._settings = settings
        self._owns_client = http_client is None
        self.session: HttpClientT = (
            http_client if http_client is not None else http_client_type(timeout=settings.timeout)
        )

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
    def http_client(self) -> HttpClientT:
        return self.session

    def _build_request(self, request: ApiRequest[Any]) -> httpx.Request:
        # A client passed in keeps its own timeout; the one made here has the client's.
        timeout = self._settings.timeout if self._owns_client else httpx.USE_CLIENT_DEFAULT
        return self.session.build_request(
            request.method,
            self._settings.url(request.path),
            headers={**self._settings.headers, **request.headers},
            timeout=timeout,
            json=request.json,
            data=request.data,
            files=request.files,
            params=request.params,
            content=request.content,
        )

    def _retry_delay_after_failure(self, request: ApiRequest[Any], attempt: int, exc: httpx.HTTPError) -> float:
        """The wait before trying `request` again after it could not be sent; raises OuteAIError when
        it is not to be tried again."""
        settings = self._settings
        if not isinstance(exc, RETRY_EXCEPTIONS) or attempt >= settings.max_retries:
            raise transport_error(settings, request.path, exc) from exc
        delay = settings.retry_delay(attempt, None)
        logger.info("%s %s failed (%s); retrying in %.2f s", request.method, request.path, exc, delay)
        return delay

    def _retry_delay_after_answer(self, request: ApiRequest[Any], attempt: int, response: httpx.Response) -> float:
        """The wait before trying `request` again after an error answer (its body read); raises its
        OuteAIAPIError when it is not to be tried again."""
        settings = self._settings
        error = api_error(response)
        if response.status_code not in RETRY_STATUSES or attempt >= settings.max_retries:
            raise error
        delay = settings.retry_delay(attempt, response)
        logger.info("%s %s answered %s; retrying in %.2f s", request.method, request.path, response.status_code, delay)
        return delay
