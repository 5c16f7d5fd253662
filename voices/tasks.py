from celery import shared_task


@shared_task(name="voices.preview_make")
def voice_preview_task(voice_id: str) -> None:
    from voices.services import voice_preview_make

    voice_preview_make(voice_id=voice_id)
