from ninja import Router

from api.auth import ApiRequest, bearer_voices
from api.errors import ok
from api.schemas import VoiceOut, VoicesOut, responses
from voices.models import Voice
from voices.selectors import voice_languages, voices_available

router = Router(tags=["voices"])


def voice_out(voice: Voice) -> VoiceOut:
    return VoiceOut(
        voice_id=str(voice.id),
        speaker_name=voice.speaker_name,
        is_clone=voice.is_clone,
        gender=voice.gender,
        language=voice.language,
        # What it may read: its engine's languages (an English Kokoro voice reads Japanese too).
        languages=list(voice_languages(voice)),
        description=voice.description,
    )


@router.get(
    "/voices", auth=bearer_voices, response=responses({200: VoicesOut}), summary="Voices available to your account"
)
def voices(request: ApiRequest) -> dict:
    return ok({"voices": [voice_out(voice) for voice in voices_available(request.auth)]})
