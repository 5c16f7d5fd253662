from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.http import AuthenticatedRequest
from accounts.models import Membership, Scope
from accounts.selectors import (
    emails_verified,
    emails_with_invitations_unverified,
    invitations_acceptable,
    team_get_for_member,
    team_members,
    team_role,
    teams_for,
    tokens_active,
)
from accounts.services import (
    TeamRefused,
    TokenRefused,
    invitation_accept,
    invitation_decline,
    team_create,
    team_delete,
    team_invite,
    team_leave,
    team_remove_member,
    token_create,
    token_revoke,
    tokens_revoke_all,
)
from billing.selectors import ledger_for, spending_by_day, top_up_state, wallet_for
from core.text import name_clean

LEDGER_PAGE_SIZE = 25
CHART_DAYS = 30


def _account_page(request: AuthenticatedRequest, *, status: int = 200, **extra) -> HttpResponse:
    wallet = wallet_for(request.user)
    ledger = Paginator(ledger_for(request.user), LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
    spending = spending_by_day(request.user, days=CHART_DAYS)
    most = max((spent for _, spent in spending), default=0) or 1
    context = {
        "tokens": tokens_active(request.user),
        "scopes": Scope.choices,
        # Production's welcome credits wait for a verified address: say so, rather than show 0.
        "grant_waits_for_verification": settings.SIGNUP_GRANT_ON == "verified" and not emails_verified(request.user),
        "wallet": wallet,
        "ledger": ledger,
        # Bars of a 300×100 chart, one a day, oldest on the left.
        "spending_bars": [_bar(i, day, spent, most) for i, (day, spent) in enumerate(spending)],
        "spent_total": sum(spent for _, spent in spending),
        "top_up": top_up_state(request.user),
        **extra,
    }
    return render(request, "accounts/account.html", context, status=status)


def _bar(index: int, day, spent: int, most: int) -> dict:
    height = round(max(1.0, 100 * spent / most), 2) if spent else 0
    return {"x": index * 10 + 1, "y": round(100 - height, 2), "height": height, "day": day, "spent": spent}


# The page may show a new token's secret: no cache (the browser's, a proxy's) may keep it.
@never_cache
@login_required
@require_GET
def account(request: AuthenticatedRequest) -> HttpResponse:
    return _account_page(request)


@never_cache
@login_required
@require_POST
def token_new(request: AuthenticatedRequest) -> HttpResponse:
    name = name_clean(request.POST.get("name", ""), max_length=100)
    if not name:
        return _account_page(request, name_error="Give the token a name of 1 to 100 characters.", status=400)
    try:
        # The form marks that it showed the scopes' boxes: then none ticked is a mistake, not "all".
        scopes = request.POST.getlist("scopes") if "scopes_shown" in request.POST else None
        token, secret = token_create(user=request.user, name=name, scopes=scopes)
    except TokenRefused as refused:
        return _account_page(request, name_error=f"{refused.message} Tick at least one.", status=refused.status)
    # Rendered, not redirected: the secret must not be kept anywhere, not even in the session.
    return _account_page(request, new_token=token, new_secret=secret)


@login_required
@require_POST
def token_delete(request: AuthenticatedRequest, token_id) -> HttpResponse:
    if not token_revoke(user=request.user, token_id=token_id):
        raise Http404("No such token")
    messages.success(request, "The token was revoked. Requests using it now get 401.")
    return redirect("account")


@login_required
@require_POST
def tokens_delete_all(request: AuthenticatedRequest) -> HttpResponse:
    revoked = tokens_revoke_all(user=request.user)
    messages.success(request, f"{revoked} token{'s' if revoked != 1 else ''} revoked. Requests using them now get 401.")
    return redirect("account")


# ---------- teams ----------


@login_required
@require_http_methods(["GET", "POST"])
def teams(request: AuthenticatedRequest) -> HttpResponse:
    if request.method == "POST":
        try:
            team = team_create(owner=request.user, name=request.POST.get("name", ""))
        except TeamRefused as refused:
            messages.error(request, refused.message)
            return redirect("teams")
        return redirect("team_detail", team_id=team.id)
    return render(
        request,
        "accounts/teams.html",
        {
            "teams": teams_for(request.user),
            "invitations": invitations_acceptable(request.user),
            "unverified_invited": emails_with_invitations_unverified(request.user),
        },
    )


@login_required
@require_POST
def invitation_answer(request: AuthenticatedRequest, invitation_id: int) -> HttpResponse:
    """The invitee accepts or declines, from an address of theirs they have verified."""
    try:
        if request.POST.get("action") == "accept":
            team = invitation_accept(user=request.user, invitation_id=invitation_id)
            messages.success(request, f"You joined {team.name}.")
            return redirect("team_detail", team_id=team.id)
        team = invitation_decline(user=request.user, invitation_id=invitation_id)
        messages.success(request, f"You declined the invitation to {team.name}.")
    except TeamRefused as refused:
        messages.error(request, refused.message)
    return redirect("teams")


@login_required
@require_http_methods(["GET", "POST"])
def team_detail(request: AuthenticatedRequest, team_id) -> HttpResponse:
    team = team_get_for_member(request.user, team_id)
    if team is None:
        raise Http404("No such team")
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "invite":
                messages.success(request, team_invite(team=team, by=request.user, email=request.POST.get("email", "")))
            elif action == "remove":
                team_remove_member(team=team, by=request.user, user_id=int(request.POST.get("user_id", 0)))
            elif action == "leave":
                team_leave(team=team, user=request.user)
                messages.success(request, f"You left {team.name}.")
                return redirect("teams")
            elif action == "delete":
                team_delete(team=team, by=request.user)
                messages.success(request, f"{team.name} was deleted.")
                return redirect("teams")
        except TeamRefused as refused:
            messages.error(request, refused.message)
        except ValueError:  # a user_id that is not a number
            messages.error(request, "No such member.")
        return redirect("team_detail", team_id=team.id)
    return render(
        request,
        "accounts/team.html",
        {
            "team": team,
            "members": team_members(team),
            "invitations": team.invitations.order_by("email"),
            "is_owner": team_role(request.user, team) == Membership.Role.OWNER,
        },
    )
