from allauth.account.adapter import DefaultAccountAdapter

from accounts.services import invitations_accept
from billing.services import credits_signup_grant


class AccountAdapter(DefaultAccountAdapter):
    """allauth's hook for a new account: the signup grant, and the teams that invited its email."""

    def save_user(self, request, user, form, commit=True):
        user = super().save_user(request, user, form, commit=commit)
        if commit:
            credits_signup_grant(user)
            invitations_accept(user=user)
        return user
