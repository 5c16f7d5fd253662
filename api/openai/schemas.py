"""OpenAI's request and answers, as the `openai` package sends and reads them."""

from typing import Literal

from ninja import Schema
from pydantic import Field, StrictFloat, StrictInt, StrictStr


class VoiceRef(Schema):
    """OpenAI's custom voice object: `{"id": ...}` (here a voice's UUID or name)."""

    id: StrictStr


class SpeechCreate(Schema):
    """The body of POST /v1/audio/speech (openai's SpeechCreateParams)."""

    model: StrictStr = Field(description="`tts-1`, `tts-1-hd`, `gpt-4o-mini-tts` or `outetts_1_pro`: one engine.")
    input: StrictStr = Field(description="The text to speak, 1 to 5,000 characters (TTS_MAX_TEXT_CHARS).")
    voice: StrictStr | VoiceRef = Field(
        description="An OpenAI voice name (alloy, ash, ... mapped to our built-ins, docs/openai.md), one of "
        'our voice names or voice UUIDs (GET /v1/audio/voices), or `{"id": ...}` with either.'
    )
    instructions: StrictStr = Field("", max_length=4096, description="Stored with the generation; not acted on.")
    response_format: StrictStr = Field("mp3", description="`mp3`, `opus`, `aac`, `flac`, `wav` or `pcm`.")
    speed: StrictFloat | StrictInt = Field(1.0, ge=0.25, le=4.0, description="Speaking rate, 0.25 to 4.0.")
    stream_format: Literal["audio", "sse"] = Field(
        "audio", description="`audio`: the audio itself; `sse`: server-sent events with base64 audio."
    )


class ModelOut(Schema):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelsOut(Schema):
    object: Literal["list"] = "list"
    data: list[ModelOut]


class AudioModelOut(Schema):
    id: str


class AudioModelsOut(Schema):
    """Open WebUI's GET /audio/models."""

    models: list[AudioModelOut]


class OpenAIVoiceOut(Schema):
    id: str = Field(description="The voice's UUID: what `voice` takes.")
    name: str
    aliases: list[str] = Field(description="The OpenAI voice names that speak as this voice.")
    is_clone: bool
    gender: str
    language: str
    languages: list[str]
    description: str


class OpenAIVoicesOut(Schema):
    voices: list[OpenAIVoiceOut]


class ErrorDetail(Schema):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorOut(Schema):
    error: ErrorDetail
