"""Python SDK for the OuteAI text-to-speech API."""

from ._common import GenerationPage
from ._version import API_VERSION, SDK_VERSION, __version__
from .async_client import AsyncOuteAI, AsyncSpeechStream
from .client import OuteAI, SpeechResult, SpeechStream
from .exceptions import OuteAIAPIError, OuteAIError

__all__ = [
    "API_VERSION",
    "SDK_VERSION",
    "AsyncOuteAI",
    "AsyncSpeechStream",
    "GenerationPage",
    "OuteAI",
    "OuteAIAPIError",
    "OuteAIError",
    "SpeechResult",
    "SpeechStream",
    "__version__",
]
