from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyKey(models.Model):
    """An account's Idempotency-Key and the first answer given for it (api.idempotency): kept 24 h,
    so that a retry of a generating or cloning POST gets that answer instead of a second charge."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        # Answered (and charged), but the answer was over the size limits: not kept, not replayed.
        NOT_KEPT = "not_kept", "Done, answer not kept"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # sha256 of method, path and body: the same key with another request is a conflict.
    request_hash = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.RUNNING)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    content_type = models.CharField(max_length=120, blank=True)
    body = models.BinaryField(default=b"", blank=True)
    # len(body): the account's kept bytes are summed from it (IDEMPOTENCY_ACCOUNT_MAX_BYTES).
    body_size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
