"""Every change of an account's credits. Each goes through a locked wallet row and writes a ledger
entry with the balance after it, so the balance always equals the sum of the ledger and, with the
database's own checks, never goes below zero however many requests run at once.

billing imports no accounts: it knows an account as Django's base user and finds its rows by
user_id (user.pk)."""

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser as User
from django.db import connection, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone

from billing.models import Hold, LedgerEntry, Wallet
from billing.pricing import credits_format
from billing.selectors import wallet_for_id
from core.errors import ApplicationError
from core.realtime import user_broadcast


def credits_top_up_hint() -> str:
    """Where an account short of credits buys more: the account page, where the packs are."""
    return f"Top up in your account: {reverse('account')}"


class InsufficientCredits(ApplicationError):
    """More credits asked for than are free to spend (INSUFFICIENT_CREDITS, 402)."""

    def __init__(self, needed: int, available: int) -> None:
        super().__init__(
            "INSUFFICIENT_CREDITS",
            f"This needs up to {credits_format(needed)} credits and {credits_format(available)} are available. "
            f"{credits_top_up_hint()}",
        )
        self.needed = needed
        self.available = available


class BalanceTooLarge(ApplicationError, ValueError):
    """A change that would take a balance beyond what the ledger stores (a 64-bit integer)."""

    def __init__(self, message: str) -> None:
        super().__init__("VALIDATION_ERROR", message)


# Far beyond any real balance, well within PostgreSQL's bigint.
BALANCE_MAX = 10**18


def wallet_get_or_create(user: User) -> Wallet:
    return Wallet.objects.get_or_create(user_id=user.pk)[0]


def wallet_lock(user: User) -> Wallet:
    """The user's wallet with its row locked until the transaction ends: what else the account
    does under the same lock (a charge, a clone) waits, so a count taken under it stays true."""
    wallet_get_or_create(user)
    return Wallet.objects.select_for_update().get(user_id=user.pk)


@transaction.atomic
def credits_change(
    *,
    user: User,
    amount: int,
    kind: str,
    reason: str = "",
    actor: User | None = None,
    generation=None,
    voice=None,
    purchase=None,
) -> LedgerEntry:
    """Adds (or, negative, takes) micro-credits. Taking more than is free to spend is refused:
    credits held by generations under way stay theirs."""
    wallet = wallet_lock(user)
    if amount < 0 and -amount > wallet.available:
        raise InsufficientCredits(-amount, wallet.available)
    if wallet.balance + amount > BALANCE_MAX:
        raise BalanceTooLarge(f"The balance would exceed {credits_format(BALANCE_MAX)} credits.")
    wallet.balance += amount
    wallet.save(update_fields=["balance", "updated_at"])
    return LedgerEntry.objects.create(
        user_id=user.pk,
        amount=amount,
        balance_after=wallet.balance,
        kind=kind,
        reason=reason[:300],
        actor_id=actor.pk if actor is not None else None,
        generation=generation,
        voice=voice,
        purchase=purchase,
    )


def wallet_broadcast_on_commit(user_id: int) -> None:
    """Once the transaction commits, every open page of the account shows its new balance."""

    def send() -> None:
        balance = wallet_for_id(user_id).balance
        user_broadcast(
            user_id, {"type": "wallet.update", "balance": balance, "balance_credits": credits_format(balance)}
        )

    transaction.on_commit(send)


@transaction.atomic
def credits_signup_grant(user: User) -> LedgerEntry | None:
    """The welcome credits, once per account: a second call (a second address verified, say)
    finds the first grant under the wallet's lock and gives nothing."""
    amount = settings.SIGNUP_GRANT_MICROCREDITS
    if amount <= 0:
        return None
    wallet_lock(user)
    if LedgerEntry.objects.filter(user_id=user.pk, kind=LedgerEntry.Kind.SIGNUP_GRANT).exists():
        return None
    return credits_change(user=user, amount=amount, kind=LedgerEntry.Kind.SIGNUP_GRANT, reason="Welcome credits")


def credits_admin_change(*, user: User, amount: int, actor: User | None, reason: str) -> LedgerEntry:
    """A grant (positive) or an adjustment (negative) by an operator, with their reason."""
    if not reason.strip():
        raise ValueError("A reason is required.")
    if amount == 0:
        raise ValueError("The amount must not be zero.")
    kind = LedgerEntry.Kind.ADMIN_GRANT if amount >= 0 else LedgerEntry.Kind.ADMIN_ADJUSTMENT
    return credits_change(user=user, amount=amount, kind=kind, reason=reason.strip(), actor=actor)


def hold_place(*, user: User, generation, amount: int) -> Hold:
    """Reserves `amount` for a generation, or raises InsufficientCredits. One conditional UPDATE:
    two requests at once can never both take the last credits. Call it inside the transaction that
    creates the generation."""
    if not _wallet_reserve(user_id=user.pk, amount=amount):
        wallet_get_or_create(user)  # most holds find the wallet; a user's first makes it
        if not _wallet_reserve(user_id=user.pk, amount=amount):
            raise InsufficientCredits(amount, Wallet.objects.get(user_id=user.pk).available)
    return Hold.objects.create(user_id=user.pk, generation=generation, amount=amount)


def _wallet_reserve(*, user_id: int, amount: int) -> bool:
    reserved = Wallet.objects.filter(user_id=user_id, balance__gte=F("held") + amount).update(
        held=F("held") + amount, updated_at=timezone.now()
    )
    return reserved == 1


def hold_settle(*, generation, cost: int) -> int:
    """Ends a generation's hold: charges `cost` (at most what was held) and frees the rest. Settling
    twice changes nothing. Returns what was charged."""
    if connection.vendor == "postgresql":
        return _hold_settle_postgresql(generation=generation, cost=cost)
    return _hold_settle_orm(generation=generation, cost=cost)


# The settle on PostgreSQL as one statement (the ORM's took five and a savepoint, ~4 ms on a job's
# end before its caller hears it): the hold locked first, then the wallet, as the ORM's path does;
# an open hold is charged, the wallet's held and balance change together and the ledger row gets
# the balance after it. A hold settled already (or none) changes nothing and says what it charged.
_SETTLE_SQL = """
WITH hold AS (
  SELECT id, user_id, amount, charged, settled_at, LEAST(GREATEST(%(cost)s, 0), amount) AS charge
  FROM {holds} WHERE generation_id = %(generation_id)s
  FOR UPDATE
), open AS (
  SELECT * FROM hold WHERE settled_at IS NULL
), wallet AS (
  UPDATE {wallets} w SET held = w.held - open.amount, balance = w.balance - open.charge, updated_at = %(now)s
  FROM open WHERE w.user_id = open.user_id
  RETURNING w.balance
), ledger AS (
  INSERT INTO {ledger} (user_id, amount, balance_after, kind, generation_id, reason, created_at)
  SELECT open.user_id, -open.charge, wallet.balance, %(kind)s, %(generation_id)s, %(reason)s, %(now)s
  FROM open, wallet WHERE open.charge > 0
), settled AS (
  UPDATE {holds} h SET charged = open.charge, settled_at = %(now)s FROM open WHERE h.id = open.id
)
SELECT CASE WHEN settled_at IS NULL THEN charge ELSE COALESCE(charged, 0) END FROM hold
"""


def _hold_settle_postgresql(*, generation, cost: int) -> int:
    tables = {
        "holds": Hold._meta.db_table,
        "wallets": Wallet._meta.db_table,
        "ledger": LedgerEntry._meta.db_table,
    }
    params = {
        "generation_id": generation.pk,
        "cost": cost,
        "now": timezone.now(),
        "kind": LedgerEntry.Kind.GENERATION,
        "reason": _charge_reason(generation),
    }
    with connection.cursor() as cursor:
        cursor.execute(_SETTLE_SQL.format(**tables), params)
        row = cursor.fetchone()
    return row[0] if row else 0


@transaction.atomic
def _hold_settle_orm(*, generation, cost: int) -> int:
    hold = Hold.objects.select_for_update().filter(generation=generation).first()
    if hold is None or hold.settled_at is not None:
        return (hold.charged or 0) if hold else 0
    charge = max(0, min(cost, hold.amount))
    # The hold's wallet exists: hold_place made it.
    wallet = Wallet.objects.select_for_update().get(user_id=hold.user_id)
    wallet.held -= hold.amount
    wallet.balance -= charge
    wallet.save(update_fields=["held", "balance", "updated_at"])
    if charge:
        LedgerEntry.objects.create(
            user_id=hold.user_id,
            amount=-charge,
            balance_after=wallet.balance,
            kind=LedgerEntry.Kind.GENERATION,
            generation=generation,
            reason=_charge_reason(generation),
        )
    hold.charged = charge
    hold.settled_at = timezone.now()
    hold.save(update_fields=["charged", "settled_at"])
    return charge


def _charge_reason(generation) -> str:
    return f"{generation.seconds:.3f} s of audio"
