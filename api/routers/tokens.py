import uuid

from django.http import HttpResponse
from ninja import Router, Status

from accounts.models import ApiToken
from accounts.selectors import tokens_active
from accounts.services import token_create, token_revoke
from api.auth import ApiRequest, bearer_tokens_or_session
from api.errors import ApiError, ok
from api.schemas import TokenCreatedOut, TokenCreateRequest, TokenOut, TokenRevokedOut, TokensOut, responses
from core.text import name_clean

router = Router(tags=["tokens"])


def token_out(token: ApiToken, secret: str | None = None) -> TokenOut:
    return TokenOut(
        token_id=str(token.id),
        name=token.name,
        token=secret or token.masked,
        created_at=token.created_at.isoformat(),
        last_used_at=token.last_used_at.isoformat() if token.last_used_at else None,
        scopes=list(token.scopes),
    )


@router.get(
    "/tokens",
    auth=bearer_tokens_or_session,
    response=responses({200: TokensOut}),
    summary="Your active API tokens (masked)",
)
def tokens_list(request: ApiRequest) -> dict:
    return ok({"tokens": [token_out(token) for token in tokens_active(request.auth)]})


@router.post(
    "/tokens",
    auth=bearer_tokens_or_session,
    response=responses({201: TokenCreatedOut}),
    summary="Create a token; its secret is shown only in this answer",
)
def tokens_create(request: ApiRequest, response: HttpResponse, payload: TokenCreateRequest | None = None) -> Status:
    name = name_clean(payload.name, max_length=100) if payload else "API token"
    if name is None:
        raise ApiError("VALIDATION_ERROR", "name must be 1 to 100 printable characters.")
    token, secret = token_create(
        user=request.auth, name=name, scopes=payload.scopes if payload else None, made_by=request.api_token
    )
    # The answer carries a secret: no cache may keep it.
    response["Cache-Control"] = "no-store"
    return Status(201, ok(token_out(token, secret)))


@router.delete(
    "/tokens/{uuid:token_id}",
    auth=bearer_tokens_or_session,
    response=responses({200: TokenRevokedOut}, 404),
    summary="Revoke a token at once",
)
def tokens_revoke(request: ApiRequest, token_id: uuid.UUID) -> dict:
    if not token_revoke(user=request.auth, token_id=token_id):
        raise ApiError("NOT_FOUND", "No such active token.")
    return ok({"token_id": str(token_id), "revoked": True})
