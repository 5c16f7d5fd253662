from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

from billing.services import credits_signup_grant


class AccountAdapter(DefaultAccountAdapter):
    """allauth's hook for a new account: the signup grant, unless it waits for a verified address.
    Team invitations wait for a verified address always (accounts.receivers, the Teams page)."""

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit and settings.SIGNUP_GRANT_ON == "signup":
            credits_signup_grant(user)
        return user
