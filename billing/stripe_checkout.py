"""Talking to Stripe (through its `stripe` library): making a Checkout Session for a pack, and reading
the events Stripe's webhook sends. What they change in our books is billing.payments'."""

import logging
from typing import Any

import stripe
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser as User
from stripe.params.checkout import SessionCreateParams

from billing.models import Purchase
from billing.packs import CreditPack
from billing.payments import purchase_create, purchase_expire, purchase_pay, purchase_refund
from billing.selectors import payments_configured

logger = logging.getLogger(__name__)

PAID_EVENTS = frozenset({"checkout.session.completed", "checkout.session.async_payment_succeeded"})


class PaymentRefused(Exception):
    """A Buy that cannot go on: payments not configured, no such pack, Stripe unreachable."""


class WebhookRefused(Exception):
    """A webhook request that is not a genuine, fresh Stripe event: answered 400."""


def _stripe() -> stripe.StripeClient:
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses={"api": settings.STRIPE_API_BASE})


def pack_get(key: str) -> CreditPack:
    for pack in settings.CREDIT_PACKS:
        if pack.key == key:
            return pack
    raise PaymentRefused("There is no such pack of credits.")


def checkout_session_create(*, user: User, pack_key: str, success_url: str, cancel_url: str) -> tuple[Purchase, str]:
    """A Checkout Session for one pack, and its record. Returns the purchase and the URL of
    Stripe's payment page to send the browser to."""
    if not payments_configured():
        raise PaymentRefused("Payments are not configured; ask an administrator.")
    pack = pack_get(pack_key)
    reference = {"account_id": str(user.pk), "pack": pack.key}
    params: SessionCreateParams = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": pack.currency,
                    "unit_amount": pack.price,
                    "product_data": {"name": f"{pack.key} OuteAI credits"},
                },
            }
        ],
        "client_reference_id": str(user.pk),
        "metadata": reference,
        "payment_intent_data": {"metadata": reference},
        "success_url": success_url,
        "cancel_url": cancel_url,
    }
    if email := getattr(user, "email", ""):
        params["customer_email"] = email
    try:
        session = _stripe().v1.checkout.sessions.create(params=params)
    except stripe.StripeError as error:
        logger.exception("Stripe refused or could not be reached for a Checkout Session")
        raise PaymentRefused("The payment could not be started; try again in a moment.") from error
    if not session.url:
        raise PaymentRefused("The payment could not be started; try again in a moment.")
    return purchase_create(user=user, pack=pack, stripe_session_id=session.id), session.url


def webhook_event_handle(*, payload: bytes, signature: str | None) -> str:
    """Verifies an event with the endpoint's signing secret (unsigned, mis-signed or older than the
    library's five minutes: WebhookRefused), then acts on it. Returns what was done, for the log."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise WebhookRefused("The webhook's signing secret is not configured.")
    try:
        event = stripe.Webhook.construct_event(payload, signature, settings.STRIPE_WEBHOOK_SECRET)
    except (ValueError, stripe.SignatureVerificationError) as error:
        raise WebhookRefused(f"Not a verified Stripe event: {error}") from None
    thing = event.data.object.to_dict()
    if event.type in PAID_EVENTS:
        return _session_paid(thing)
    if event.type == "checkout.session.expired":
        return "expired" if purchase_expire(stripe_session_id=thing["id"]) else "expired already"
    if event.type == "charge.refunded":
        refunded = purchase_refund(
            stripe_payment_intent=_id(thing.get("payment_intent")), amount_refunded=int(thing["amount_refunded"])
        )
        return "refund taken back" if refunded else "nothing to take back"
    return f"ignored {event.type}"


def _session_paid(event_session: Any) -> str:
    """An event says a session was paid: what counts is the session as Stripe's API shows it now
    (its payment status and amount), for the account and pack our record names."""
    if event_session.get("payment_status") != "paid":
        return "not paid yet"
    session = _stripe().v1.checkout.sessions.retrieve(event_session["id"])
    if session.payment_status != "paid":
        logger.warning("Stripe event says session %s is paid; the API says %s", session.id, session.payment_status)
        return "not paid"
    credited = purchase_pay(
        stripe_session_id=session.id,
        amount_paid=int(session.amount_total or 0),
        currency=session.currency or "",
        payment_intent=_id(session.payment_intent),
    )
    return "credited" if credited else "credited already or not ours"


def _id(value: Any) -> str:
    """An expandable field: an id, or the object itself."""
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value.get("id", ""))
