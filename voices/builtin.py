"""The built-in voices the engine speaks, as the product's docs name them.

Their voice_ids are derived from their names, so they are the same on every installation and an
API user's saved voice_id keeps working. Each names the engine backend that speaks it
(engine/backends.py): the languages a voice may read are its backend's (engine/languages.py), its
own `language` is the one it was made for.
"""

import uuid
from dataclasses import dataclass

BUILTIN_VOICE_NAMESPACE = uuid.UUID("6f1d3c52-8a0e-4c1b-9b57-3e0f4a2d9c11")


@dataclass(frozen=True)
class BuiltinVoice:
    speaker_name: str
    gender: str
    description: str
    backend: str  # "piper" or "kokoro"
    language: str = "en-US"

    @property
    def voice_id(self) -> uuid.UUID:
        return uuid.uuid5(BUILTIN_VOICE_NAMESPACE, self.speaker_name)


# The engine speaks EN-MALE-1-NEUTRAL with Piper (Joe) and the others with Kokoro-82M
# (engine/backends.py). A description that changes here means the voice sounds different: its
# stored preview is made again (voices_sync_builtin).
BUILTIN_VOICES = (
    BuiltinVoice("EN-FEMALE-1-NEUTRAL", "female", "Natural, bright female voice (US English)", "kokoro"),
    BuiltinVoice("EN-FEMALE-2-NEUTRAL", "female", "Warm, soft female voice (US English)", "kokoro"),
    BuiltinVoice("EN-MALE-1-NEUTRAL", "male", "Clear, steady male voice (US English)", "piper"),
    BuiltinVoice("EN-MALE-2-NEUTRAL", "male", "Calm, deep male voice (US English)", "kokoro"),
    BuiltinVoice("JA-FEMALE-1-NEUTRAL", "female", "Natural, bright female voice (Japanese)", "kokoro", "ja-JP"),
    BuiltinVoice("JA-FEMALE-2-NEUTRAL", "female", "Soft, gentle female voice (Japanese)", "kokoro", "ja-JP"),
    BuiltinVoice("JA-MALE-1-NEUTRAL", "male", "Calm, deep male voice (Japanese)", "kokoro", "ja-JP"),
)

BUILTIN_BY_NAME = {builtin.speaker_name: builtin for builtin in BUILTIN_VOICES}

# OpenAI's voice names (POST /v1/audio/speech) as our built-ins, by the voice's character in
# OpenAI's guide (brighter or warmer, lighter or deeper). The one table: /v1/audio/voices lists
# each built-in with its aliases and docs/openai.md prints it.
OPENAI_VOICE_ALIASES = {
    "alloy": "EN-FEMALE-1-NEUTRAL",
    "nova": "EN-FEMALE-1-NEUTRAL",
    "marin": "EN-FEMALE-1-NEUTRAL",
    "coral": "EN-FEMALE-2-NEUTRAL",
    "sage": "EN-FEMALE-2-NEUTRAL",
    "shimmer": "EN-FEMALE-2-NEUTRAL",
    "ash": "EN-MALE-1-NEUTRAL",
    "echo": "EN-MALE-1-NEUTRAL",
    "verse": "EN-MALE-1-NEUTRAL",
    "ballad": "EN-MALE-2-NEUTRAL",
    "fable": "EN-MALE-2-NEUTRAL",
    "onyx": "EN-MALE-2-NEUTRAL",
    "cedar": "EN-MALE-2-NEUTRAL",
}


def builtin_for_openai_voice(name: str) -> BuiltinVoice | None:
    """The built-in an OpenAI voice name stands for (case aside), else None."""
    speaker_name = OPENAI_VOICE_ALIASES.get(name.strip().lower())
    return BUILTIN_BY_NAME[speaker_name] if speaker_name else None


def openai_aliases_of(speaker_name: str) -> list[str]:
    return [alias for alias, name in OPENAI_VOICE_ALIASES.items() if name == speaker_name]
