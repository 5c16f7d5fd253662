import hashlib
import secrets
import uuid
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, Invitation, Membership, Team, User
from config.text import name_clean

TOKEN_PREFIX = "oute_"  # noqa: S105 (the public prefix of every secret, not a secret)
_PREFIX_SHOWN = len(TOKEN_PREFIX) + 4
# Recording every use would write on every request; a minute's precision is enough to tell.
_LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """Creates a token; returns it with its secret, which is not stored and cannot be shown again."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken.objects.create(
        user=user,
        name=name_clean(name, max_length=100) or "API token",
        prefix=secret[:_PREFIX_SHOWN],
        secret_digest=_digest(secret),
    )
    return token, secret


def token_revoke(*, user: User, token_id: uuid.UUID) -> bool:
    """Revokes one of the user's tokens at once; False if the user has no such active token."""
    return bool(
        ApiToken.objects.filter(user=user, id=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


def token_authenticate(secret: str) -> ApiToken | None:
    """The active token with this secret, its last use recorded; None for anything else."""
    if not secret.isascii() or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(secret_digest=_digest(secret), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_PRECISION:
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
        token.last_used_at = now
    return token


# ---------- teams ----------


class TeamRefused(Exception):
    pass


@transaction.atomic
def team_create(*, owner: User, name: str) -> Team:
    name = name_clean(name, max_length=80)
    if not name:
        raise TeamRefused("A team's name is 1 to 80 characters.")
    team = Team.objects.create(name=name)
    Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
    return team


def team_invite(*, team: Team, by: User, email: str) -> str:
    """An existing account joins at once; any other email is invited and joins when it signs up.
    Returns what happened, for the person who invited."""
    if not Membership.objects.filter(team=team, user=by, role=Membership.Role.OWNER).exists():
        raise TeamRefused("Only the team's owners invite.")
    try:
        email = validate_email_address(email)
    except ValueError as error:
        raise TeamRefused(str(error)) from None
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        _, joined = Membership.objects.get_or_create(team=team, user=user)
        return f"{user.email} joined the team." if joined else f"{user.email} is already a member."
    Invitation.objects.get_or_create(team=team, email=email.lower(), defaults={"invited_by": by})
    return f"{email} is invited and joins when they sign up."


def invitations_accept(*, user: User) -> int:
    """Makes a new account a member of every team that invited its email."""
    invitations = Invitation.objects.filter(email__iexact=user.email)
    joined = 0
    for invitation in invitations:
        joined += Membership.objects.get_or_create(team=invitation.team, user=user)[1]
    invitations.delete()
    return joined


def team_leave(*, team: Team, user: User) -> None:
    membership = Membership.objects.filter(team=team, user=user).first()
    if membership is None:
        raise TeamRefused("You are not in this team.")
    if membership.role == Membership.Role.OWNER:
        raise TeamRefused("An owner does not leave a team; delete it instead.")
    membership.delete()


def team_remove_member(*, team: Team, by: User, user_id: int) -> None:
    if not Membership.objects.filter(team=team, user=by, role=Membership.Role.OWNER).exists():
        raise TeamRefused("Only the team's owners remove members.")
    if user_id == by.id:
        raise TeamRefused("An owner does not remove themselves.")
    Membership.objects.filter(team=team, user_id=user_id).delete()


def team_delete(*, team: Team, by: User) -> None:
    if not Membership.objects.filter(team=team, user=by, role=Membership.Role.OWNER).exists():
        raise TeamRefused("Only the team's owners delete it.")
    team.delete()


def validate_email_address(email: str) -> str:
    from django.core.exceptions import ValidationError
    from django.core.validators import validate_email

    email = (email or "").strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ValueError(f"{email!r} is not an email address.") from None
    return email
