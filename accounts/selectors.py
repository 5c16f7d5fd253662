import uuid

from django.db.models import QuerySet

from accounts.models import ApiToken, Membership, Team, User


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
