"""Python SDK for the OuteAI text-to-speech API."""

from ._common import GenerationPage, SpeechAudio, SpeechDone, SpeechEvent, SpeechWords
from ._version import API_VERSION, SDK_VERSION, __version__
from .async_client import AsyncOuteAI, AsyncSpeechEventStream, AsyncSpeechStream
from .client import OuteAI, SpeechEventStream, SpeechResult, SpeechStream
from .exceptions import OuteAIAPIError, OuteAIError

__all__ = [
    "API_VERSION",
    "SDK_VERSION",
    "AsyncOuteAI",
    "AsyncSpeechEventStream",
    "AsyncSpeechStream",
    "GenerationPage",
    "OuteAI",
    "OuteAIAPIError",
    "OuteAIError",
    "SpeechAudio",
    "SpeechDone",
    "SpeechEvent",
    "SpeechEventStream",
    "SpeechResult",
    "SpeechStream",
    "SpeechWords",
    "__version__",
]
