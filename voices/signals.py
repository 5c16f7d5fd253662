"""A voice's stored files go with it, however it is deleted (its owner, the admin, the account)."""

from django.db.models.signals import post_delete
from django.dispatch import receiver

from core.files import stored_files_delete_on_commit
from voices.models import Voice


@receiver(post_delete, sender=Voice, dispatch_uid="voices.voice_removed")
def voice_removed(sender, instance: Voice, **kwargs) -> None:
    stored_files_delete_on_commit(instance.preview, instance.reference)
