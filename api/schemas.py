from datetime import datetime

from ninja import Schema
from pydantic import AliasChoices, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr


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
    response_format: StrictStr = Field("wav", description="Must be `wav`.")
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


class Voice(Schema):
    voice_id: str
    speaker_name: str
    is_clone: bool
    gender: str
    language: str
    languages: list[str]
    description: str


class Token(Schema):
    token_id: str
    name: str
    token: str = Field(description="Masked, except in the answer to POST /api/v1/tokens.")
    created_at: datetime
    last_used_at: datetime | None
    scopes: list[str]
