from django.http import HttpRequest

from accounts.models import User


class AuthenticatedRequest(HttpRequest):
    """A request behind login_required: its user is a signed-in User, never the anonymous one."""

    user: User
