"""The API's requests and answers. Every answer is an envelope: `{"success": true, "data": ...}`
or, for an error, `{"success": false, "code", "message"}` (core.errors)."""

from typing import Any, Literal

from ninja import Schema
from pydantic import AliasChoices, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from core.audio_formats import AUDIO_FORMATS


class SpeechRequest(Schema):
    """The body of tts_non_stream and tts_stream. Aliases take OpenAI-style field names."""

    model_config = ConfigDict(populate_by_name=True)

    text: StrictStr = Field(
        validation_alias=AliasChoices("text", "input"), description="Text to speak. Also accepted as `input`."
    )
    voice_id: StrictStr = Field(
        validation_alias=AliasChoices("voice_id", "voice"),
        description="UUID of a voice from GET /api/v1/voices (a voice's name is accepted too). Also `voice`.",
    )
    model_name: StrictStr = Field(
        validation_alias=AliasChoices("model_name", "model"), description="Currently `outetts_1_pro`. Also `model`."
    )
    response_format: StrictStr = Field(
        "wav",
        description=f"The audio's format: {', '.join(f'`{name}`' for name in AUDIO_FORMATS)} (`pcm`: raw 24 kHz "
        "mono s16le). tts_stream sends it as it is made, in a container that decodes while it grows.",
    )
    speed: StrictFloat | StrictInt = Field(
        1.0,
        description="The speaking rate, 0.25 to 4.0 (1: the voice's own pace). Billed per second of audio, so "
        "slower costs more.",
    )
    language: StrictStr | None = Field(
        None,
        description="The text's language: `en` or `ja` (a regional tag such as `en-US` or `ja-JP` is accepted). "
        "Detected from the text when absent (kana or kanji: Japanese). A language the voice's engine does not "
        "speak is refused with 400 before anything is charged.",
    )
    verify: StrictBool = Field(
        False,
        description="Verified take: each part of the text is heard back by a speech recogniser (English "
        "only) and a part whose words do not match is spoken again once, free. tts_non_stream answers "
        "what the check found in the `X-Verification` header.",
    )


class LegacySpeechRequest(Schema):
    """The body of the legacy POST /api/v1/tts: the token travels in the body."""

    # Optional here so that a body without one is answered 401 UNAUTHORIZED, not 400.
    token: StrictStr | None = None
    text: StrictStr
    speaker: dict[str, StrictStr] = Field(
        description='{"default": "EN-FEMALE-1-NEUTRAL"} for a built-in voice or {"custom": NAME} for a clone.'
    )
    temperature: StrictFloat | StrictInt = Field(0.4, ge=0.1, le=1.0)
    language: StrictStr | None = Field(None, description="As in /api/v1/tts_stream: `en` or `ja`, detected if absent.")


class TokenCreateRequest(Schema):
    name: StrictStr = Field("API token", min_length=1, max_length=100)
    scopes: list[StrictStr] | None = Field(
        None,
        description="Any of `speech`, `voices`, `tokens`. Without it: every scope, or, when a token makes "
        "the token, that token's scopes (a token never makes a token broader than itself).",
    )


class PronunciationCreateRequest(Schema):
    match: StrictStr = Field(description="The word or phrase as written (at most 100 characters).")
    alias: StrictStr | None = Field(None, description="What to say instead. Give this or `ipa`.")
    ipa: StrictStr | None = Field(
        None, description="The sounds, in IPA (espeak's letters), e.g. `\u02c8z\u0254\u0279bl\u00e6ks`."
    )
    case_sensitive: StrictBool = Field(False, description="Match only this capitalisation.")
    whole_word: StrictBool = Field(True, description="Match only whole words, never inside a longer word.")


# ---------- answers ----------


class ErrorOut(Schema):
    """Every error, whatever the endpoint: the code's status is in core.errors.STATUS_BY_CODE."""

    success: Literal[False] = False
    code: str = Field(description="VALIDATION_ERROR, UNAUTHORIZED, INSUFFICIENT_CREDITS, NOT_FOUND, ...")
    message: str = Field(description="For the person who sent the request.")


class Ok(Schema):
    success: Literal[True] = True


# What every endpoint with a token may answer besides its own: a body it cannot read or a field
# that is not valid (400), no token (401), a token without the scope (403), a body too large (413).
TOKEN_ERRORS = (400, 401, 403, 413)


def responses(answer: dict[int, Any], *errors: int) -> dict[int, Any]:
    """An operation's answers for its OpenAPI description: its own, then the errors, each the envelope."""
    return {**answer, **dict.fromkeys(sorted({*TOKEN_ERRORS, *errors}), ErrorOut)}


class HealthData(Schema):
    status: str
    api_version: str
    engine: dict[str, Any] = Field(description="As in EngineHealth: status, warm, engines, configured.")


class HealthOut(Ok):
    data: HealthData


class VoiceOut(Schema):
    voice_id: str
    speaker_name: str
    is_clone: bool
    gender: str
    language: str
    languages: list[str] = Field(description="What it may read: its engine's languages.")
    description: str


class VoicesData(Schema):
    voices: list[VoiceOut]


class VoicesOut(Ok):
    data: VoicesData


class FitOut(Schema):
    status: str = Field(description="`none`, `queued`, `fitting`, `improved` or `kept`.")
    progress: float
    scores: dict[str, Any] | None
    finished_at: str | None


class CloneOut(Schema):
    # `name` is the cloning tutorial's field, `speaker_name` the API reference's: both, same value.
    voice_id: str
    name: str
    speaker_name: str
    created_at: str = Field(description="ISO 8601.")
    fit: FitOut = Field(description="How the clone's background improvement goes.")


class CloneCreatedOut(CloneOut):
    speech_seconds: float
    warnings: list[str]


class CloneCreatedEnvelope(Ok):
    data: CloneCreatedOut


class Quota(Schema):
    used: int
    limit: int


class ClonesData(Schema):
    voice_clones: list[CloneOut]
    quota: Quota


class ClonesOut(Ok):
    data: ClonesData


class CloneDeleted(Schema):
    voice_id: str
    deleted: Literal[True] = True


class CloneDeletedOut(Ok):
    data: CloneDeleted


class TokenOut(Schema):
    token_id: str
    name: str
    token: str = Field(description="Masked, except in the answer to POST /api/v1/tokens.")
    created_at: str = Field(description="ISO 8601.")
    last_used_at: str | None
    scopes: list[str]


class TokenCreatedOut(Ok):
    data: TokenOut


class TokensData(Schema):
    tokens: list[TokenOut]


class TokensOut(Ok):
    data: TokensData


class TokenRevoked(Schema):
    token_id: str
    revoked: Literal[True] = True


class TokenRevokedOut(Ok):
    data: TokenRevoked


class GenerationVoiceOut(Schema):
    id: str | None = Field(description="The voice's id; null once a clone it spoke in is deleted.")
    name: str


class GenerationOut(Schema):
    id: str
    text: str
    voice: GenerationVoiceOut
    seconds: float = Field(description="Seconds of audio made.")
    cost: str = Field(description="Credits charged, as a decimal string (1 second = 0.001 credits).")
    source: str = Field(description="Where it was asked for: `studio`, `api`, `legacy_api`, `openai`, ...")
    status: str = Field(description="`queued`, `running`, `done`, `failed` or `cancelled`.")
    created_at: str = Field(description="ISO 8601.")
    audio_url: str | None = Field(
        description="GET it with the same token: 24 kHz mono WAV, Range supported. Null while there is no audio."
    )


class GenerationsData(Schema):
    items: list[GenerationOut] = Field(description="Newest first.")
    has_more: bool
    next: str | None = Field(description="Pass as `after` for the next page; null on the last.")


class GenerationsOut(Ok):
    data: GenerationsData


class GenerationItemOut(Ok):
    data: GenerationOut


class WordOut(Schema):
    text: str
    start: float = Field(description="When the word begins, in seconds from the audio's start.")
    end: float = Field(description="When it ends, in seconds.")
    char_start: int = Field(description="Where it begins in `text` (a character offset).")
    char_end: int = Field(description="Where it ends in `text` (exclusive).")


class TimestampedSpeechOut(Schema):
    audio_base64: str = Field(description="The whole take in `response_format`, base64.")
    response_format: str
    seconds: float = Field(description="Seconds of audio made (and billed).")
    text: str = Field(description="The text as it was spoken (the input after cleaning): the offsets' text.")
    words: list[WordOut] = Field(description="Each word and when it is said (empty for a language without timings).")


class TimestampedSpeechEnvelope(Ok):
    data: TimestampedSpeechOut


class PronunciationOut(Schema):
    pronunciation_id: str
    match: str
    alias: str | None
    ipa: str | None
    case_sensitive: bool
    whole_word: bool
    shared: bool = Field(description="A teammate's rule, shared with a team of yours: yours to use, not to delete.")
    created_at: str = Field(description="ISO 8601.")


class PronunciationCreatedOut(Ok):
    data: PronunciationOut


class PronunciationsData(Schema):
    pronunciations: list[PronunciationOut] = Field(description="Your own rules first, then your teams'.")
    quota: Quota = Field(description="Your own rules and how many you may keep.")


class PronunciationsOut(Ok):
    data: PronunciationsData


class PronunciationDeleted(Schema):
    pronunciation_id: str
    deleted: Literal[True] = True


class PronunciationDeletedOut(Ok):
    data: PronunciationDeleted


class PronunciationsImported(Schema):
    imported: int = Field(description="Rules the file held: added, or replacing yours of the same match.")


class PronunciationsImportedOut(Ok):
    data: PronunciationsImported


# ---------- tts_stream_with_timestamps: the events of its stream, one JSON object a line ----------


class StreamEvent(Schema):
    # Every event has its `type` (and its other fields) when it is sent, defaults included.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)


class StreamAudioEvent(StreamEvent):
    type: Literal["audio"] = "audio"
    audio_base64: str = Field(
        description="The next bytes of the audio file in `format`, base64: joined in order, the pieces are one file."
    )
    format: str = Field(description="The request's `response_format`.")


class StreamWordsEvent(StreamEvent):
    type: Literal["words"] = "words"
    chunk: int = Field(description="The part of the text (1-based) whose audio was just sent.")
    words: list[WordOut] = Field(description="That part's words, in the take's time, offsets into `text`.")


class StreamDoneEvent(StreamEvent):
    type: Literal["done"] = "done"
    generation_id: str
    seconds: float = Field(description="Seconds of audio made (and billed).")
    credits_charged: str = Field(description="Credits charged, as a decimal string (1 second = 0.001 credits).")
    text: str = Field(description="The text as it was spoken (the input after cleaning): the offsets' text.")
    verification: dict[str, Any] | None = Field(
        description="With `verify`: what the check found (`status`, `checked`, `respoken`, `failed`); else null."
    )


class StreamErrorEvent(StreamEvent):
    type: Literal["error"] = "error"
    code: str = Field(description="As in the error envelope, e.g. TTS_PROVIDER_UNAVAILABLE.")
    message: str


STREAM_EVENTS = (StreamAudioEvent, StreamWordsEvent, StreamDoneEvent, StreamErrorEvent)


def _refs_inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its $defs written in place: an OpenAPI document resolves `$ref`
    from its own root, where pydantic's `#/$defs/...` are not."""
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return inline(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(value) for value in node]
        return node

    return inline(schema)


def stream_events_schema() -> dict[str, Any]:
    """The schema of one line of tts_stream_with_timestamps: one of its events, told by `type`."""
    return {"oneOf": [_refs_inlined(event.model_json_schema(mode="serialization")) for event in STREAM_EVENTS]}
