"""What allauth's account events mean here."""

from allauth.account.signals import email_confirmed
from django.contrib import messages
from django.dispatch import receiver
from django.urls import reverse
from django.utils.html import format_html

from accounts.services import email_verified


@receiver(email_confirmed, dispatch_uid="accounts.email_confirmed")
def on_email_confirmed(sender, request, email_address, **kwargs) -> None:
    """An address was verified (its confirmation link, or an admin's "mark verified")."""
    waiting = email_verified(user=email_address.user, email=email_address.email)
    if waiting and request is not None and hasattr(request, "_messages"):
        messages.info(
            request,
            format_html(
                'An invitation to a team waits for {}: <a href="{}">accept or decline it on the Teams page</a>.',
                email_address.email,
                reverse("teams"),
            ),
        )
