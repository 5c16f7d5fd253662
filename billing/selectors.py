from datetime import date, timedelta

from django.db.models import QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import User
from billing.models import LedgerEntry, Wallet


def wallet_for(user: User) -> Wallet:
    """The user's wallet as it is; an account that never had one has an empty one."""
    return wallet_for_id(user.id)


def wallet_for_id(user_id: int) -> Wallet:
    return Wallet.objects.filter(user_id=user_id).first() or Wallet(user_id=user_id)


def ledger_for(user: User) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(user=user).select_related("actor", "generation").order_by("-created_at", "-id")


def ledger_sum(user: User) -> int:
    return LedgerEntry.objects.filter(user=user).aggregate(total=Sum("amount"))["total"] or 0


def spending_by_day(user: User, *, days: int = 30) -> list[tuple[date, int]]:
    """Micro-credits spent on each of the last `days` days (UTC), oldest first, days without
    spending included as 0."""
    today = timezone.now().date()
    start = today - timedelta(days=days - 1)
    spent = dict(
        LedgerEntry.objects.filter(user=user, amount__lt=0, created_at__date__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Sum("amount"))
        .values_list("day", "total")
    )
    return [(start + timedelta(days=i), -spent.get(start + timedelta(days=i), 0)) for i in range(days)]
