from celery import shared_task


@shared_task(name="api.idempotency_keys_expire", soft_time_limit=60, time_limit=90)
def idempotency_keys_expire_task() -> int:
    from api.idempotency import idempotency_keys_expire

    return idempotency_keys_expire()
