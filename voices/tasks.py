from celery import shared_task


@shared_task(name="voices.preview_make")
def voice_preview_task(voice_id: str) -> None:
    from voices.services import voice_preview_make

    voice_preview_make(voice_id=voice_id)


@shared_task(name="voices.fit")
def voice_fit_task(voice_id: str) -> str:
    from voices.services import voice_fit

    return voice_fit(voice_id=voice_id)


@shared_task(name="voices.fits_sweep")
def voice_fits_sweep_task() -> dict[str, int]:
    from voices.services import voice_fits_sweep

    return voice_fits_sweep()
