"""The legacy client of outeai 0.2: POST /api/v1/tts with the token in the body, progress as JSON
lines and the audio as base64 FLAC.

    from outeai.api.v1 import TTSClient

    client = TTSClient(token="oute_...")
    output = client.generate(text="Hello!", temperature=0.4, speaker={"default": "EN-FEMALE-1-NEUTRAL"})
    output.save("output.flac")

The endpoint is `base_url` when given (a host such as http://127.0.0.1:8000, or the full
.../api/v1/tts), else the module's API_URL if it was changed, else OUTEAI_BASE_URL, else outeai.com.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from .._common import API_KEY_ENV, BASE_URL_ENV, api_error
from .._version import SDK_VERSION
from ..exceptions import OuteAIAPIError, OuteAIError

__all__ = ["API_URL", "AudioOutput", "LegacyAPIError", "TTSClient"]

API_URL = "https://outeai.com/api/v1/tts"
_DEFAULT_API_URL = API_URL
_DEFAULT_SPEAKER: Mapping[str, str] = {"default": "EN-FEMALE-1-NEUTRAL"}

logger = logging.getLogger("outeai")


class LegacyAPIError(OuteAIAPIError, ValueError):
    """An error answer of the legacy API. A ValueError, as outeai 0.2 raised, and an OuteAIAPIError
    with the envelope's `status_code`, `code` and `message`."""


@dataclass
class AudioOutput:
    """The legacy API's audio: FLAC bytes."""

    audio_bytes: bytes
    sample_rate: int = 44100
    duration: float | None = None

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Writes the FLAC bytes to `path`, as given."""
        output_path = Path(path)
        output_path.write_bytes(self.audio_bytes)
        logger.info("File saved in: %s", output_path)
        return output_path


def _endpoint(base_url: str | None) -> str:
    if base_url is None:
        if API_URL != _DEFAULT_API_URL:
            return API_URL
        base_url = os.environ.get(BASE_URL_ENV)
        if not base_url:
            return API_URL
    url = base_url.strip().rstrip("/")
    if url.endswith("/api/v1/tts"):
        return url
    if url.endswith("/api/v1"):
        return f"{url}/tts"
    return f"{url}/api/v1/tts"


def _flac_sample_rate(flac: bytes) -> int | None:
    # "fLaC", a 4-byte metadata block header, then STREAMINFO: the rate is 20 bits at byte 10.
    if len(flac) < 21 or flac[:4] != b"fLaC":
        return None
    info = flac[8:]
    return (info[10] << 12) | (info[11] << 4) | (info[12] >> 4)


class TTSClient:
    """Client for the legacy OuteTTS API (POST /api/v1/tts)."""

    def __init__(
        self,
        token: str | None = None,
        base_url: str | None = None,
        *,
        timeout: float | None = 300.0,
        http_client: httpx.Client | None = None,
    ) -> None:
        if token is None:
            token = os.environ.get(API_KEY_ENV)
        if not isinstance(token, str) or not token.strip():
            raise ValueError(f"The 'token' parameter is required (or set {API_KEY_ENV}).")
        self.token = token.strip()
        self.base_url = base_url
        self.timeout = timeout
        self._owns_client = http_client is None
        self.session: httpx.Client = http_client if http_client is not None else httpx.Client(timeout=timeout)

    @property
    def api_url(self) -> str:
        return _endpoint(self.base_url)

    def __enter__(self) -> TTSClient:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_client:
            self.session.close()

    def generate(
        self,
        text: str,
        temperature: float = 0.4,
        speaker: Mapping[str, str] | None = None,
        verbose: bool = True,
        language: str | None = None,
    ) -> AudioOutput:
        """Speech for `text` in `speaker` ({"default": NAME} for a built-in voice, {"custom": NAME}
        for a clone), as FLAC. `language` ("en", "ja", ...) is the text's, detected by the server
        when None. Logs the progress when `verbose`. Raises ValueError for bad arguments and
        LegacyAPIError (a ValueError) when the API refuses or fails."""
        if speaker is None:
            speaker = _DEFAULT_SPEAKER
        if not text:
            raise ValueError("The 'text' parameter is required and cannot be empty.")
        if not speaker:
            raise ValueError("The 'speaker' parameter is required and cannot be empty.")
        if not (0.1 <= temperature <= 1.0):
            raise ValueError("The 'temperature' parameter must be between 0.1 and 1.0.")

        if language is not None and (not isinstance(language, str) or not language.strip()):
            raise ValueError("The 'language' parameter must be a language tag such as 'en' or 'ja'.")

        payload = {"token": self.token, "text": text, "temperature": temperature, "speaker": dict(speaker)}
        if language is not None:
            payload["language"] = language.strip()
        url = self.api_url
        headers = {"Accept": "application/x-ndjson", "User-Agent": f"outeai-python-sdk/{SDK_VERSION}"}
        final: dict[str, Any] | None = None
        try:
            with self.session.stream("POST", url, json=payload, headers=headers) as response:
                if not response.is_success:
                    response.read()
                    error = api_error(response)
                    logger.error("API request failed: %s", error.message)
                    raise LegacyAPIError(
                        f"API request failed: {error.message}",
                        status_code=error.status_code,
                        code=error.code,
                        payload=error.payload,
                    )
                if verbose:
                    logger.info("Generating audio...")
                for line in response.iter_lines():
                    event = self._event(line)
                    if event is None:
                        continue
                    if event.get("success") is False:
                        message = str(event.get("message") or "The generation failed.")
                        logger.error("API request failed: %s", message)
                        raise LegacyAPIError(
                            f"API request failed: {message}",
                            status_code=response.status_code,
                            code=event.get("code"),
                            payload=event,
                        )
                    data = event.get("data")
                    if isinstance(data, dict) and data.get("audio_bytes"):
                        final = data
                    elif verbose:
                        status: dict[str, Any] = {"status": event.get("generation_status", "unknown")}
                        if "generated_seconds" in event:
                            status["generated_seconds"] = f"{event['generated_seconds']:.2f}s"
                        logger.info("%s", status)
        except httpx.HTTPError as exc:
            logger.exception("API request failed")
            raise OuteAIError(f"Request to {url} failed: {exc}") from exc

        if final is None:
            raise LegacyAPIError("API request failed: the stream ended without audio.", code="NO_AUDIO")
        try:
            audio = base64.b64decode(final["audio_bytes"], validate=True)
        except (binascii.Error, ValueError, TypeError) as exc:
            raise LegacyAPIError("API request failed: the audio is not valid base64.", code="BAD_AUDIO") from exc
        duration = final.get("duration")
        return AudioOutput(
            audio_bytes=audio,
            sample_rate=_flac_sample_rate(audio) or 24000,
            duration=float(duration) if isinstance(duration, (int, float)) else None,
        )

    @staticmethod
    def _event(line: str) -> dict[str, Any] | None:
        line = line.strip()
        if not line:
            return None
        try:
            event = json.loads(line)
        except ValueError:
            logger.exception("Failed to parse chunk: %r", line[:200])
            return None
        return event if isinstance(event, dict) else None
