import uuid

from allauth.account.models import EmailAddress
from django.db.models import QuerySet

from accounts.models import ApiToken, Invitation, Membership, Team, User


def tokens_active(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")


def teams_for(user: User) -> QuerySet[Team]:
    return Team.objects.filter(memberships__user=user).order_by("name").distinct()


def team_get_for_member(user: User, team_id) -> Team | None:
    """The team if the user is in it; None for anyone else (callers answer 404)."""
    try:
        return teams_for(user).filter(id=uuid.UUID(str(team_id))).first()
    except ValueError:
        return None


def team_role(user: User, team: Team) -> str | None:
    return Membership.objects.filter(team=team, user=user).values_list("role", flat=True).first()


def team_members(team: Team) -> QuerySet[Membership]:
    return team.memberships.select_related("user").order_by("-role", "user__email")


def emails_verified(user: User) -> list[str]:
    """The user's addresses that allauth has seen them verify, lower-cased as invitations keep them."""
    return [
        email.lower() for email in EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    ]


def invitations_acceptable(user: User) -> QuerySet[Invitation]:
    """Invitations to the user's verified addresses: theirs to accept or decline."""
    return (
        Invitation.objects.filter(email__in=emails_verified(user))
        .select_related("team", "invited_by")
        .order_by("created_at")
    )


def emails_with_invitations_unverified(user: User) -> list[str]:
    """The user's unverified addresses that an invitation waits for. Only the addresses: whose team
    it is stays unseen until the address is proved to be theirs."""
    unverified = {
        email.lower(): email
        for email in EmailAddress.objects.filter(user=user, verified=False).values_list("email", flat=True)
    }
    invited = Invitation.objects.filter(email__in=list(unverified)).values_list("email", flat=True).distinct()
    return sorted(unverified[email] for email in invited)
