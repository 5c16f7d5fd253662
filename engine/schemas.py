"""The engine's request bodies as pydantic models, and the refusal each invalid one gets.

``synthesis_request_parse`` turns a ``POST /synthesize`` body into a ``SynthesisRequest`` or raises
``BadRequest(code, message)``, the engine's 400 answer ``{"code", "message"}`` (engine/README.md).
The types are strict (JSON's true is not a number, 1 is not true) and the checks run in the
order they are written, so a body with several faults is refused for the first.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from engine.piper_engine import MAX_TEMPERATURE, MIN_TEMPERATURE
from engine.speed import MAX_SPEED, MIN_SPEED
from engine.text import Pause, Say

MAX_TENANT_CHARS = 100
MAX_PAUSE_SECONDS = 5.0  # a <break>'s longest (core/markup.py)
# A script's said text may be longer than the input (numbers, aliases said in words): this many
# times the text's own limit.
SCRIPT_TEXT_FACTOR = 4
MAX_IPA_CHARS = 200


class BadRequest(Exception):
    """A refused request: its error code and the message the caller reads."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# The refusal for a field of the wrong type (or missing, or out of its type's bounds).
FIELD_REFUSALS = {
    "text": ("invalid_text", "'text' is required and must be a string"),
    "voice": ("invalid_voice", "'voice' is required (unless 'profile' is given) and must be a string"),
    "max_seconds": ("invalid_max_seconds", "'max_seconds' must be a number or null"),
    "temperature": ("invalid_temperature", "'temperature' must be a number or null"),
    "speed": ("invalid_speed", "'speed' must be a number or null"),
    "start_chunk": ("invalid_start_chunk", "'start_chunk' must be a whole number from 0"),
    "tenant": ("invalid_tenant", f"'tenant' must be a string of 1 to {MAX_TENANT_CHARS} characters"),
    "verify": ("invalid_verify", "'verify' must be true or false"),
    "whole": ("invalid_whole", "'whole' must be true or false"),
    "script": (
        "invalid_script",
        '\'script\' must be a list of {"say", "start", "end", "rate", "ipa"} and {"pause", "at"} items',
    ),
}
BAD_JSON = ("bad_json", "the request body must be a JSON object")

Number = Annotated[StrictFloat, AllowInfNan(False)]  # an int is a number too; true is not
Tenant = Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_TENANT_CHARS)]


class ScriptSay(BaseModel):
    """A piece to say (core.markup.Said as JSON): its text, the request text's characters it
    stands for, its rate (times the request's speed) and, for a <phoneme>, its IPA."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    say: StrictStr
    start: StrictInt = Field(ge=0)
    end: StrictInt = Field(ge=0)
    rate: Number = Field(1.0, ge=MIN_SPEED, le=MAX_SPEED)
    ipa: Annotated[StrictStr, StringConstraints(min_length=1, max_length=MAX_IPA_CHARS)] | None = None


class ScriptPause(BaseModel):
    """A pause (core.markup.Pause as JSON): seconds of silence at the request text's character."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    pause: Number = Field(gt=0, le=MAX_PAUSE_SECONDS)
    at: StrictInt = Field(ge=0)


class SynthesisRequest(BaseModel):
    """``POST /synthesize``'s body. Validated with ``context={"max_text_chars": ...}``."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    # A speaker profile wins over 'voice'; its backend checks it (engine/backends.py).
    profile: Any = None
    text: StrictStr
    voice: StrictStr | None = Field(None, validate_default=True)
    max_seconds: Number | None = None
    temperature: Number | None = None
    speed: Number | None = None  # absent or null: the voice's own pace (1.0)
    start_chunk: StrictInt = Field(0, ge=0)
    tenant: Tenant | None = None
    verify: StrictBool | None = None  # absent or null: no check
    # The caller delivers the take only whole (absent or null: as it is made): the text is chunked
    # for fewer model calls instead of a quick first audio (engine/app.py synthesis_parts).
    whole: StrictBool | None = None
    # Checked against the voice's backend once it is known (engine/app.py).
    language: Any = None
    # What to say instead of 'text' (whose characters its pieces point at): engine/README.md.
    script: list[ScriptSay | ScriptPause] | None = None

    @field_validator("voice", mode="before")
    @classmethod
    def _ignored_beside_a_profile(cls, voice: Any, info: ValidationInfo) -> Any:
        return None if info.data.get("profile") is not None else voice

    @field_validator("voice")
    @classmethod
    def _voice_or_profile(cls, voice: str | None, info: ValidationInfo) -> str | None:
        if info.data.get("profile") is None and not (voice and voice.strip()):
            raise PydanticCustomError(*FIELD_REFUSALS["voice"])
        return voice

    @model_validator(mode="after")
    def _bounds(self, info: ValidationInfo) -> SynthesisRequest:
        if self.max_seconds is not None and self.max_seconds <= 0:
            raise PydanticCustomError("invalid_max_seconds", "'max_seconds' must be greater than 0")
        if self.temperature is not None and not MIN_TEMPERATURE <= self.temperature <= MAX_TEMPERATURE:
            raise PydanticCustomError(
                "invalid_temperature", f"'temperature' must be between {MIN_TEMPERATURE} and {MAX_TEMPERATURE}"
            )
        if self.speed is not None and not MIN_SPEED <= self.speed <= MAX_SPEED:
            raise PydanticCustomError("invalid_speed", f"'speed' must be between {MIN_SPEED} and {MAX_SPEED}")
        if not self.text.strip():
            raise PydanticCustomError("empty_text", "'text' is empty")
        limit = (info.context or {}).get("max_text_chars")
        if limit is not None and len(self.text) > limit:
            raise PydanticCustomError("text_too_long", f"'text' is longer than {limit} characters")
        if self.script is not None:
            said = [piece for piece in self.script if isinstance(piece, ScriptSay)]
            if not any(piece.say.strip() for piece in said):
                raise PydanticCustomError("empty_text", "'script' says nothing")
            if limit is not None and sum(len(piece.say) for piece in said) > SCRIPT_TEXT_FACTOR * limit:
                raise PydanticCustomError(
                    "text_too_long", f"'script' says more than {SCRIPT_TEXT_FACTOR * limit} characters"
                )
            for piece in self.script:
                start, end = (piece.start, piece.end) if isinstance(piece, ScriptSay) else (piece.at, piece.at)
                if not start <= end <= len(self.text):
                    raise PydanticCustomError("invalid_script", "'script' points at characters outside 'text'")
        return self

    def script_pieces(self) -> list[Say | Pause]:
        """The script as engine/text.py's pieces; without one, the text as one piece."""
        if self.script is None:
            return [Say(self.text, 0, len(self.text))]
        return [
            Say(piece.say, piece.start, piece.end, piece.rate, piece.ipa)
            if isinstance(piece, ScriptSay)
            else Pause(piece.pause, piece.at)
            for piece in self.script
        ]


def synthesis_request_parse(body: bytes, *, max_text_chars: int) -> SynthesisRequest:
    """The checked request; ``BadRequest`` with the first fault's code and message."""
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise BadRequest(*BAD_JSON) from None
    try:
        return SynthesisRequest.model_validate(data, context={"max_text_chars": max_text_chars})
    except ValidationError as exc:
        raise BadRequest(*_refusal(exc.errors()[0])) from None


def _refusal(error: Any) -> tuple[str, str]:
    """(code, message) for pydantic's first error: ours carry their code as the error's type;
    pydantic's own (a wrong type, a missing field, a bound) are the field's refusal."""
    if error["type"] in {*(code for code, _ in FIELD_REFUSALS.values()), "empty_text", "text_too_long"}:
        return error["type"], error["msg"]
    if not error["loc"]:  # not an object at all
        return BAD_JSON
    return FIELD_REFUSALS[str(error["loc"][0])]
