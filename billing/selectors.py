"""What billing reads; it knows an account as Django's base user and finds its rows by user_id."""

from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser as User
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Sum, Window
from django.db.models.functions import TruncDate
from django.utils import timezone

from billing.models import Hold, LedgerEntry, Purchase, Wallet
from billing.pricing import credits_format


def wallet_for(user: User) -> Wallet:
    """The user's wallet as it is; an account that never had one has an empty one."""
    return wallet_for_id(user.pk)


def wallet_for_id(user_id: int) -> Wallet:
    return Wallet.objects.filter(user_id=user_id).first() or Wallet(user_id=user_id)


def ledger_for(user: User) -> QuerySet[LedgerEntry]:
    return (
        LedgerEntry.objects.filter(user_id=user.pk).select_related("actor", "generation").order_by("-created_at", "-id")
    )


def purchases_for(user: User, *, limit: int = 20) -> QuerySet[Purchase]:
    return Purchase.objects.filter(user_id=user.pk).order_by("-created_at", "-id")[:limit]


def payments_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY)


def top_up_state(user: User) -> dict:
    """What the account page sells and has sold to the account: the packs, whether payments are
    configured (without Stripe's key the packs are shown with no Buy), and recent purchases."""
    purchases = list(purchases_for(user))
    recent = timezone.now() - timedelta(minutes=10)
    return {
        "packs": settings.CREDIT_PACKS,
        "payments_configured": payments_configured(),
        "purchases": purchases,
        # A purchase just made whose payment Stripe has not yet confirmed: the page looks again soon.
        "awaiting_payment": any(p.status == Purchase.Status.CREATED and p.created_at > recent for p in purchases),
    }


def ledger_sum(user: User) -> int:
    return LedgerEntry.objects.filter(user_id=user.pk).aggregate(total=Sum("amount"))["total"] or 0


def spending_by_day(user: User, *, days: int = 30) -> list[tuple[date, int]]:
    """Micro-credits spent on each of the last `days` days (UTC), oldest first, days without
    spending included as 0."""
    today = timezone.now().date()
    start = today - timedelta(days=days - 1)
    spent = dict(
        LedgerEntry.objects.filter(user_id=user.pk, amount__lt=0, created_at__date__gte=start)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(total=Sum("amount"))
        .values_list("day", "total")
    )
    return [(start + timedelta(days=i), -spent.get(start + timedelta(days=i), 0)) for i in range(days)]


def credits_problems() -> tuple[int, list[str]]:
    """Proves the books: for every wallet, `held` is the sum of its open holds and the balance is
    the sum of its ledger, each entry's balance_after is the running sum of the entries before
    it, and no finished generation keeps an open hold. Read in one snapshot, so work under way
    (every change commits wallet, hold and ledger together) never shows as a problem. Returns how
    many accounts were checked and the problems found."""
    own_transaction = not connection.in_atomic_block  # inside another, its snapshot is the caller's
    with transaction.atomic():
        if own_transaction and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        wallets = {
            user_id: (balance, held)
            for user_id, balance, held in Wallet.objects.values_list("user_id", "balance", "held")
        }
        open_held = dict(
            Hold.objects.filter(settled_at__isnull=True)
            .values("user_id")
            .annotate(total=Sum("amount"))
            .values_list("user_id", "total")
        )
        ledger = dict(
            LedgerEntry.objects.values("user_id").annotate(total=Sum("amount")).values_list("user_id", "total")
        )
        broken_chain = list(
            LedgerEntry.objects.annotate(
                running=Window(Sum("amount"), partition_by=[F("user_id")], order_by=F("id").asc())
            )
            .filter(~Q(running=F("balance_after")))
            .values_list("user_id", "id", "balance_after", "running")
        )
        # A generation's finished_at is set in the same write as its final status.
        stranded = list(
            Hold.objects.filter(settled_at__isnull=True, generation__finished_at__isnull=False).values_list(
                "user_id", "generation_id", "amount"
            )
        )
    problems = []
    for user_id in sorted(wallets.keys() | open_held.keys() | ledger.keys()):
        balance, held = wallets.get(user_id, (0, 0))
        if held != open_held.get(user_id, 0):
            problems.append(
                f"account {user_id}: held {credits_format(held)} but its open holds sum to "
                f"{credits_format(open_held.get(user_id, 0))}"
            )
        if balance != ledger.get(user_id, 0):
            problems.append(
                f"account {user_id}: balance {credits_format(balance)} but its ledger sums to "
                f"{credits_format(ledger.get(user_id, 0))}"
            )
    for user_id, entry_id, balance_after, running in broken_chain:
        problems.append(
            f"account {user_id}: ledger entry {entry_id} says balance {credits_format(balance_after)} after it, "
            f"its entries up to it sum to {credits_format(running)}"
        )
    for user_id, generation_id, amount in stranded:
        problems.append(
            f"account {user_id}: generation {generation_id} has ended but still holds {credits_format(amount)}"
        )
    return len(wallets.keys() | ledger.keys()), problems
