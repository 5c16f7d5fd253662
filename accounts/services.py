import hashlib
import secrets
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, Invitation, Membership, Team, User, scopes_all
from accounts.selectors import emails_verified
from billing.services import credits_signup_grant
from core.errors import ApplicationError
from core.text import name_clean

TOKEN_PREFIX = "oute_"  # noqa: S105 (the public prefix of every secret, not a secret)
_PREFIX_SHOWN = len(TOKEN_PREFIX) + 4
# Recording every use would write on every request; a minute's precision is enough to tell.
_LAST_USED_PRECISION = timedelta(minutes=1)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class TokenRefused(ApplicationError):
    """VALIDATION_ERROR for scopes that are not scopes, FORBIDDEN for more than the maker may give."""


def token_scopes_clean(scopes: object) -> list[str]:
    """The scopes asked for, in the order of Scope, or TokenRefused naming what is not a scope."""
    known = scopes_all()
    if not isinstance(scopes, list | tuple) or not scopes or not all(isinstance(s, str) for s in scopes):
        raise TokenRefused("VALIDATION_ERROR", f"scopes must be a non-empty list of: {', '.join(known)}.")
    unknown = sorted(set(scopes) - set(known))
    if unknown:
        shown = ", ".join(repr(scope[:20]) for scope in unknown[:3])
        raise TokenRefused("VALIDATION_ERROR", f"Unknown scopes {shown}: use {', '.join(known)}.")
    return [scope for scope in known if scope in scopes]


def token_create(
    *, user: User, name: str, scopes: list[str] | None = None, made_by: ApiToken | None = None
) -> tuple[ApiToken, str]:
    """Creates a token; returns it with its secret, which is not stored and cannot be shown again.

    A token made by another token (`made_by`) is never broader than it: without scopes it gets the
    maker's, and asking for more is refused. Made by a person (a browser session, the CLI), it gets
    the scopes asked for, or all of them."""
    ceiling = made_by.scopes if made_by is not None else scopes_all()
    scopes = ceiling if scopes is None else token_scopes_clean(scopes)
    broader = [scope for scope in scopes if scope not in ceiling]
    if broader:
        raise TokenRefused(
            "FORBIDDEN", f"A token cannot make a token broader than itself: it lacks {', '.join(broader)}."
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(30)
    token = ApiToken.objects.create(
        user=user,
        name=name_clean(name, max_length=100) or "API token",
        prefix=secret[:_PREFIX_SHOWN],
        secret_digest=_digest(secret),
        scopes=list(scopes),
    )
    return token, secret


def token_revoke(*, user: User, token_id: uuid.UUID) -> bool:
    """Revokes one of the user's tokens at once; False if the user has no such active token."""
    return bool(
        ApiToken.objects.filter(user=user, id=token_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
    )


def tokens_revoke_all(*, user: User) -> int:
    """Revokes every active token of the user at once; returns how many."""
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())


def token_authenticate(secret: str) -> ApiToken | None:
    """The active token with this secret, its last use recorded; None for anything else."""
    if not secret.isascii() or not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        return None
    try:  # get, not first: the digest is unique, and an ORDER BY costs every request its compiling
        token = ApiToken.objects.select_related("user").get(
            secret_digest=_digest(secret), revoked_at__isnull=True, user__is_active=True
        )
    except ApiToken.DoesNotExist:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > _LAST_USED_PRECISION:
        ApiToken.objects.filter(id=token.id).update(last_used_at=now)
        token.last_used_at = now
    return token


# ---------- teams ----------


class TeamRefused(ApplicationError):
    """A team change that was not made: VALIDATION_ERROR for what was typed, FORBIDDEN for what
    only an owner does, NOT_FOUND for an invitation or membership that is not there."""


@transaction.atomic
def team_create(*, owner: User, name: str) -> Team:
    cleaned = name_clean(name, max_length=80)
    if not cleaned:
        raise TeamRefused("VALIDATION_ERROR", "A team's name is 1 to 80 characters.")
    team = Team.objects.create(name=cleaned)
    Membership.objects.create(team=team, user=owner, role=Membership.Role.OWNER)
    return team


def team_invite(*, team: Team, by: User, email: str) -> str:
    """Invites an email address; it joins when an account that has verified the address accepts.
    Returns what the person who invited is told: the same words whether or not the address has an
    account, so an invitation never tells whose address is registered."""
    if not Membership.objects.filter(team=team, user=by, role=Membership.Role.OWNER).exists():
        raise TeamRefused("FORBIDDEN", "Only the team's owners invite.")
    try:
        email = validate_email_address(email)
    except ValueError as error:
        raise TeamRefused("VALIDATION_ERROR", str(error)) from None
    # The members' addresses are on the team's page already: saying so tells the owner nothing new.
    if team.memberships.filter(user__email__iexact=email).exists():
        return f"{email} is already a member."
    Invitation.objects.get_or_create(team=team, email=email.lower(), defaults={"invited_by": by})
    return f"{email} is invited: they join when they accept the invitation from a verified address."


def _invitation_for_verified(user: User, invitation_id: int) -> Invitation:
    invitation = Invitation.objects.filter(id=invitation_id, email__in=emails_verified(user)).first()
    if invitation is None:
        # Also the answer for an invitation to an address the user has only typed, not verified.
        raise TeamRefused("NOT_FOUND", "No such invitation for a verified address of yours.")
    return invitation


@transaction.atomic
def invitation_accept(*, user: User, invitation_id: int) -> Team:
    """The invited account joins the team; only from an address it has verified."""
    invitation = _invitation_for_verified(user, invitation_id)
    Membership.objects.get_or_create(team=invitation.team, user=user)
    invitation.delete()
    return invitation.team


def invitation_decline(*, user: User, invitation_id: int) -> Team:
    """Declining is the invitee's own too: an unverified claimant cannot discard it."""
    invitation = _invitation_for_verified(user, invitation_id)
    invitation.delete()
    return invitation.team


def email_verified(*, user: User, email: str) -> int:
    """What a newly verified address brings: the signup grant where it waits for a verified address
    (SIGNUP_GRANT_ON=verified; given once, however many addresses are verified), and the
    invitations to that address, which the user may now accept. Returns how many wait."""
    if settings.SIGNUP_GRANT_ON == "verified":
        credits_signup_grant(user)
    return Invitation.objects.filter(email__iexact=email).count()


def team_leave(*, team: Team, user: User) -> None:
    membership = Membership.objects.filter(team=team, user=user).first()
    if membership is None:
        raise TeamRefused("NOT_FOUND", "You are not in this team.")
    if membership.role == Membership.Role.OWNER:
        raise TeamRefused("VALIDATION_ERROR", "An owner does not leave a team; delete it instead.")
    membership.delete()


def team_remove_member(*, team: Team, by: User, user_id: int) -> None:
    if not Membership.objects.filter(team=team, user=by, role=Membership.Role.OWNER).exists():
        raise TeamRefused("FORBIDDEN", "Only the team's owners remove members.")
    if user_id == by.id:
        raise TeamRefused("VALIDATION_ERROR", "An owner does not remove themselves.")
    Membership.objects.filter(team=team, user_id=user_id).delete()


def team_delete(*, team: Team, by: User) -> None:
    if not Membership.objects.filter(team=team, user=by, role=Membership.Role.OWNER).exists():
        raise TeamRefused("FORBIDDEN", "Only the team's owners delete it.")
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
