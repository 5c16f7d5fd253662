"""Purchases of credit packs: recorded when their Checkout Session is made, credited once when paid,
taken back (what is left of them) when refunded. Stripe itself is talked to in
billing.stripe_checkout; these only keep the books, each change under the wallet's lock."""

import logging

from django.contrib.auth.models import AbstractBaseUser as User
from django.db import transaction
from django.utils import timezone

from billing.models import LedgerEntry, Purchase
from billing.packs import CreditPack
from billing.pricing import credits_format
from billing.services import credits_change, wallet_broadcast_on_commit, wallet_lock

logger = logging.getLogger(__name__)


def purchase_create(*, user: User, pack: CreditPack, stripe_session_id: str) -> Purchase:
    """The record of a Checkout Session just made: the account, pack and price it is for."""
    return Purchase.objects.create(
        user_id=user.pk,
        pack=pack.key,
        credits=pack.credits,
        amount=pack.price,
        currency=pack.currency,
        stripe_session_id=stripe_session_id,
    )


@transaction.atomic
def purchase_pay(*, stripe_session_id: str, amount_paid: int, currency: str, payment_intent: str) -> Purchase | None:
    """Credits a paid Checkout Session's pack to the account it was made for, once. The conditional
    UPDATE created -> paid is taken by one delivery only (a concurrent one waits on the row, then
    finds it paid), and the ledger's unique constraint stands behind it. A payment of another amount
    or currency than ours credits nothing: the purchase is flagged for an admin. Returns the
    purchase if this call credited it."""
    purchase = Purchase.objects.filter(stripe_session_id=stripe_session_id).first()
    if purchase is None:
        logger.warning("Stripe paid Checkout Session %s, which is none of ours", stripe_session_id)
        return None
    if (amount_paid, currency.lower()) != (purchase.amount, purchase.currency):
        problem = f"Stripe says {amount_paid} {currency} was paid; the pack costs {purchase.amount} {purchase.currency}"
        logger.error("Purchase %s not credited: %s", purchase.id, problem)
        Purchase.objects.filter(id=purchase.id).update(problem=problem[:300])
        return None
    taken = Purchase.objects.filter(id=purchase.id, status=Purchase.Status.CREATED).update(
        status=Purchase.Status.PAID, paid_at=timezone.now(), stripe_payment_intent=payment_intent or ""
    )
    if not taken:
        return None  # credited already (or expired: Stripe expires only sessions never paid)
    credits_change(
        user=purchase.user,
        amount=purchase.credits,
        kind=LedgerEntry.Kind.PURCHASE,
        reason=f"{purchase.pack} credits bought (Stripe {stripe_session_id})",
        purchase=purchase,
    )
    wallet_broadcast_on_commit(purchase.user_id)
    return purchase


def purchase_expire(*, stripe_session_id: str) -> bool:
    """A Checkout Session left unpaid until Stripe expired it."""
    return bool(
        Purchase.objects.filter(stripe_session_id=stripe_session_id, status=Purchase.Status.CREATED).update(
            status=Purchase.Status.EXPIRED, expired_at=timezone.now()
        )
    )


@transaction.atomic
def purchase_refund(*, stripe_payment_intent: str, amount_refunded: int) -> Purchase | None:
    """Stripe refunded `amount_refunded` (in all, so far) of a purchase's payment: takes back that
    share of its credits, less what earlier refunds of it took or could not take, and at most what
    the account has free (never below zero, never what generations under way hold). What could
    not be taken back is kept on the purchase for admins. Redelivered, it takes nothing more."""
    purchase = (
        Purchase.objects.select_for_update()
        .filter(stripe_payment_intent=stripe_payment_intent, status=Purchase.Status.PAID)
        .first()
        if stripe_payment_intent
        else None
    )
    if purchase is None:
        logger.warning("Stripe refunded payment %s, which paid none of our purchases", stripe_payment_intent)
        return None
    share = min(purchase.credits, purchase.credits * max(0, amount_refunded) // purchase.amount)
    owed = share - purchase.refund_taken - purchase.refund_shortfall
    if owed <= 0:
        return None
    wallet = wallet_lock(purchase.user)
    taken = min(owed, wallet.available)
    if taken:
        credits_change(
            user=purchase.user,
            amount=-taken,
            kind=LedgerEntry.Kind.PURCHASE_REFUND,
            reason=f"payment of {purchase.pack} credits refunded (Stripe {purchase.stripe_session_id})",
            purchase=purchase,
        )
        wallet_broadcast_on_commit(purchase.user_id)
    purchase.refund_taken += taken
    purchase.refund_shortfall += owed - taken
    purchase.refunded_at = timezone.now()
    purchase.save(update_fields=["refund_taken", "refund_shortfall", "refunded_at"])
    if owed > taken:
        logger.warning(
            "Purchase %s refunded: %s credits of it were spent already and not taken back",
            purchase.id,
            credits_format(owed - taken),
        )
    return purchase
