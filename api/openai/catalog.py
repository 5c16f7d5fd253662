"""What /v1 offers: the model (under OpenAI's names too) and the voices (with their OpenAI names)."""

from django.conf import settings
from ninja import Router

from api.auth import ApiRequest
from api.errors import ApiError
from api.openai.schemas import (
    AudioModelsOut,
    ModelOut,
    ModelsOut,
    OpenAIErrorOut,
    OpenAIVoiceOut,
    OpenAIVoicesOut,
)
from voices.builtin import openai_aliases_of
from voices.models import Voice
from voices.selectors import voice_languages, voices_available

router = Router(tags=["openai"])

# OpenAI's speech models, each spoken by our one engine; `created` as OpenAI lists it (a Unix time).
OPENAI_MODEL_ALIASES = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts", "gpt-4o-mini-tts-2025-12-15")
MODEL_CREATED = 1735689600  # 2025-01-01: a fixed date, so the list is the same on every call


def model_ids() -> tuple[str, ...]:
    return (settings.TTS_MODEL_NAME, *OPENAI_MODEL_ALIASES)


def model_check(model: str) -> None:
    if model not in model_ids():
        raise ApiError("VALIDATION_ERROR", f"model {model!r} is not one of ours: use one of {', '.join(model_ids())}.")


def _model_out(model_id: str) -> ModelOut:
    return ModelOut(id=model_id, created=MODEL_CREATED, owned_by="outeai")


@router.get("/models", response={200: ModelsOut, 401: OpenAIErrorOut}, summary="The speech model and its aliases")
def models_list(request: ApiRequest) -> ModelsOut:
    return ModelsOut(data=[_model_out(model_id) for model_id in model_ids()])


@router.get("/models/{model}", response={200: ModelOut, 401: OpenAIErrorOut, 404: OpenAIErrorOut}, summary="A model")
def models_retrieve(request: ApiRequest, model: str) -> ModelOut:
    if model not in model_ids():
        raise ApiError("NOT_FOUND", f"model {model!r} does not exist here.")
    return _model_out(model)


@router.get("/audio/models", response={200: AudioModelsOut, 401: OpenAIErrorOut}, summary="Models (Open WebUI)")
def audio_models(request: ApiRequest) -> dict:
    return {"models": [{"id": model_id} for model_id in model_ids()]}


def _voice_out(voice: Voice) -> OpenAIVoiceOut:
    return OpenAIVoiceOut(
        id=str(voice.id),
        name=voice.speaker_name,
        aliases=[] if voice.is_clone else openai_aliases_of(voice.speaker_name),
        is_clone=voice.is_clone,
        gender=voice.gender,
        language=voice.language,
        languages=list(voice_languages(voice)),
        description=voice.description,
    )


@router.get("/audio/voices", response={200: OpenAIVoicesOut, 401: OpenAIErrorOut}, summary="Voices for `voice`")
def audio_voices(request: ApiRequest) -> OpenAIVoicesOut:
    return OpenAIVoicesOut(voices=[_voice_out(voice) for voice in voices_available(request.auth)])
