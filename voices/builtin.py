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
