"""What the sync and the async clients share: settings, request payloads, errors and retries."""

from __future__ import annotations

import email.utils
import mimetypes
import os
import random
import struct
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Union

import httpx

from ._version import SDK_VERSION
from .exceptions import OuteAIAPIError, OuteAIError
from .types import Generation

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


def generation_page(data: dict[str, Any]) -> GenerationPage:
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
