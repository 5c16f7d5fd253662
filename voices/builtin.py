"""The built-in voices the engine speaks, as the product's docs name them.

Their voice_ids are derived from their names, so they are the same on every installation and an
API user's saved voice_id keeps working.
"""

import uuid
from dataclasses import dataclass

BUILTIN_VOICE_NAMESPACE = uuid.UUID("6f1d3c52-8a0e-4c1b-9b57-3e0f4a2d9c11")


@dataclass(frozen=True)
class BuiltinVoice:
    speaker_name: str
    gender: str
    description: str

    @property
    def voice_id(self) -> uuid.UUID:
        return uuid.uuid5(BUILTIN_VOICE_NAMESPACE, self.speaker_name)


# The engine speaks EN-MALE-1-NEUTRAL with Piper (Joe) and the others with Kokoro-82M
# (engine/backends.py). A description that changes here means the voice sounds different: its
# stored preview is made again (voices_sync_builtin).
BUILTIN_VOICES = (
    BuiltinVoice("EN-FEMALE-1-NEUTRAL", "female", "Natural, bright female voice (US English)"),
    BuiltinVoice("EN-MALE-1-NEUTRAL", "male", "Clear, steady male voice (US English)"),
    BuiltinVoice("EN-MALE-2-NEUTRAL", "male", "Calm, deep male voice (US English)"),
)
