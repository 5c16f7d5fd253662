"""The one way a speech endpoint's request becomes a generation: tts_non_stream, tts_stream, the
legacy /tts and /v1/audio/speech each read their own shape (and model names), then start it here,
so what an API generation is given (its account and token, no Studio session) is written once."""

from accounts.models import ApiToken, User
from studio.models import Generation
from studio.services import generation_create


def speech_start(
    *,
    user: User,
    api_token: ApiToken | None,
    source: str,
    delivery: str,
    text: str,
    voice_id: str,
    language: str | None = None,
    speed: float = 1.0,
    response_format: str = "wav",
    verify: bool = False,
    temperature: float | None = None,
    instructions: str = "",
) -> Generation:
    """The queued generation, or GenerationRefused (an ApplicationError) from its validation, the
    rate limit or the credits; `api_token` is None for a browser session."""
    return generation_create(
        user=user,
        api_token=api_token,
        source=source,
        delivery=delivery,
        text=text,
        voice_id=voice_id,
        language=language,
        speed=speed,
        response_format=response_format,
        verify=verify,
        temperature=temperature,
        instructions=instructions,
    )
