from typing import cast

from django.http import HttpRequest
from ninja.security import HttpBearer, SessionAuth

from accounts.models import ApiToken, Scope, User
from accounts.services import token_authenticate
from api.errors import ApiError


class ApiRequest(HttpRequest):
    """A request an endpoint's auth let in: `auth` is the user, `api_token` the token (None for a
    browser session)."""

    auth: User
    api_token: ApiToken | None


def scope_require(api_token: ApiToken, scope: str) -> None:
    """403 in the envelope for a token without the scope (a browser session has every scope)."""
    if not api_token.allows(scope):
        raise ApiError("FORBIDDEN", f"This token lacks the {scope!r} scope; make one with it on the Account page.")


class BearerToken(HttpBearer):
    """`Authorization: Bearer oute_…`, for endpoints that need these scopes. On success,
    request.auth is the user and request.api_token the token; a valid token lacking one gets 403."""

    def __init__(self, *scopes: str) -> None:
        super().__init__()
        self.scopes = scopes

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
        for scope in self.scopes:
            scope_require(api_token, scope)
        cast(ApiRequest, request).api_token = api_token
        return api_token.user


class BrowserSession(SessionAuth):
    """The signed-in browser session, with Django's CSRF check (ninja's SessionAuth does it)."""

    def authenticate(self, request: HttpRequest, key: str | None) -> User | None:
        user = super().authenticate(request, key)
        if user is not None:
            cast(ApiRequest, request).api_token = None
        return user


# The API's default, for an endpoint that names no scope: only a token with every scope.
bearer_all_scopes = BearerToken(*Scope.values)
bearer_speech = BearerToken(Scope.SPEECH)
bearer_voices = BearerToken(Scope.VOICES)
bearer_tokens_or_session = [BearerToken(Scope.TOKENS), BrowserSession()]
