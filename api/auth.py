from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from accounts.models import User
from accounts.services import token_authenticate


class BearerToken(HttpBearer):
    """`Authorization: Bearer oute_…`. On success, request.auth is the user and request.api_token
    the token."""

    def __call__(self, request: HttpRequest) -> User | None:
        # ninja's own __call__ logs a malformed header in DEBUG; a secret must never reach a log.
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            return None
        return self.authenticate(request, secret.strip())

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        api_token = token_authenticate(token)
        if api_token is None:
            return None
        request.api_token = api_token
        return api_token.user


class BrowserSession(SessionAuth):
    """The signed-in browser session, with Django's CSRF check (ninja's SessionAuth does it)."""

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = super().authenticate(request, key)
        if user is not None:
            request.api_token = None
        return user


bearer = BearerToken()
bearer_or_session = [bearer, BrowserSession()]
