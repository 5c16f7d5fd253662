"""The shapes of the API's answers. They are plain dicts at run time; these only type them."""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = [
    "CreatedToken",
    "DeletedVoiceClone",
    "Generation",
    "GenerationVoice",
    "Health",
    "RevokedToken",
    "Token",
    "Voice",
    "VoiceClone",
    "VoiceCloneQuota",
    "VoiceClones",
]


class Voice(TypedDict, total=False):
    voice_id: str
    speaker_name: str
    is_clone: bool
    gender: str
    language: str
    languages: list[str]
    description: str


class VoiceCloneFit(TypedDict):
    """How the clone's background improvement goes: status "queued", "fitting" (progress 0..1),
    then "improved" or "kept" (or "failed": it keeps its first profile); held-out scores once done."""

    status: str
    progress: float
    scores: dict[str, Any] | None
    finished_at: str | None


class VoiceClone(TypedDict, total=False):
    voice_id: str
    speaker_name: str
    created_at: str
    fit: VoiceCloneFit


class VoiceCloneQuota(TypedDict):
    used: int
    limit: int


class VoiceClones(TypedDict):
    voice_clones: list[VoiceClone]
    quota: VoiceCloneQuota


class DeletedVoiceClone(TypedDict):
    voice_id: str
    deleted: bool


class Pronunciation(TypedDict):
    """A rule of your pronunciation dictionary (or, `shared`, a teammate's shared with your team)."""

    pronunciation_id: str
    match: str  # the word or phrase as written
    alias: str | None  # what is said instead, or
    ipa: str | None  # the sounds, in IPA
    case_sensitive: bool
    whole_word: bool
    shared: bool
    created_at: str


class PronunciationQuota(TypedDict):
    used: int
    limit: int


class Pronunciations(TypedDict):
    pronunciations: list[Pronunciation]  # your own first, then your teams'
    quota: PronunciationQuota


class DeletedPronunciation(TypedDict):
    pronunciation_id: str
    deleted: bool


class ImportedPronunciations(TypedDict):
    imported: int


class Token(TypedDict):
    token_id: str
    name: str
    token: str
    created_at: str
    last_used_at: str | None
    scopes: list[str]  # what the token may do: any of "speech", "voices", "tokens"


CreatedToken = Token
"""What create_token() returns: a Token whose `token` is the full secret, shown only once."""


class RevokedToken(TypedDict):
    token_id: str
    revoked: bool


class Health(TypedDict, total=False):
    success: bool
    data: dict[str, Any]


class Word(TypedDict):
    """When a word of the text is said (generate_speech_with_timestamps)."""

    text: str
    start: float  # seconds from the audio's start
    end: float
    char_start: int  # where it is in the spoken text (SpeechResult.text)
    char_end: int


class GenerationVoice(TypedDict):
    id: str | None  # None once the clone it spoke in is deleted
    name: str


class Generation(TypedDict):
    """One generation of your history (GET /api/v1/generations), from any source."""

    id: str
    text: str
    voice: GenerationVoice
    seconds: float
    cost: str  # credits charged, a decimal string ("0.0103")
    source: str  # "studio", "api", "legacy_api", "openai", ...
    status: str  # "queued", "running", "done", "failed" or "cancelled"
    created_at: str
    audio_url: str | None  # fetch it with the same token (download_generation does)
