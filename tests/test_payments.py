"""Issue 16, top up: credit packs, the Buy button, and the Stripe webhook, in this process (Django's
test client) against the local stand-in for Stripe's API (tests/stripe_standin.py: Stripe cannot be
reached from here). The same through the running stack, with deliveries at once: test_payments_stack."""

import time
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

from billing.models import LedgerEntry, Purchase
from billing.packs import credit_packs_parse
from billing.pricing import MICRO
from billing.selectors import ledger_sum, wallet_for
from billing.services import InsufficientCredits, credits_admin_change
from strictenv import ImproperlyConfiguredEnv
from tests.conftest import account_make
from tests.stripe_standin import StripeStandIn, charge_refunded, event_payload, signature

WEBHOOK = "/billing/stripe/webhook/"


@pytest.fixture
def stripe_standin() -> Iterator[StripeStandIn]:
    with StripeStandIn() as standin, override_settings(**standin.env()):
        yield standin


@pytest.fixture(autouse=True)
def _books_clean(db) -> Iterator[None]:
    """`manage.py credits check` after every payment test."""
    yield
    call_command("credits", "check", stdout=StringIO())


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def buy(user, pack: str = "5") -> tuple[Purchase, str]:
    response = signed_in(user).post("/billing/buy/", {"pack": pack})
    assert response.status_code == 302, response.content
    return Purchase.objects.get(user=user, pack=pack, status="created"), response["Location"]


def deliver(payload: str, *, header: str | None = None) -> tuple[int, str]:
    headers = {} if header is None else {"Stripe-Signature": header}
    response = Client().post(WEBHOOK, payload, content_type="application/json", headers=headers)
    return response.status_code, response.content.decode()


def completed(standin: StripeStandIn, purchase: Purchase, event_type: str = "checkout.session.completed") -> str:
    return event_payload(event_type, standin.sessions[purchase.stripe_session_id])


def credited(user) -> int:
    return LedgerEntry.objects.filter(user=user, kind="purchase").count()


# ---------- packs ----------


def test_packs_are_parsed_strictly():
    packs = credit_packs_parse("5:5.00, 20:18.00,100:80,0.5:0.99", currency="usd")
    assert [(p.key, p.credits, p.price, p.price_text) for p in packs] == [
        ("5", 5 * MICRO, 500, "5.00 USD"),
        ("20", 20 * MICRO, 1800, "18.00 USD"),
        ("100", 100 * MICRO, 8000, "80.00 USD"),
        ("0.5", MICRO // 2, 99, "0.99 USD"),
    ]
    assert round(packs[1].audio_hours, 2) == 5.56  # 20 credits at 0.001 a second
    assert credit_packs_parse("10:1500", currency="jpy")[0].price == 1500
    for bad in ["5", "5:", "x:5.00", "0:5.00", "5:0", "5:-1", "5:5.001", "5:abc", "5:5.00,5:6.00", "5:1e12"]:
        with pytest.raises(ImproperlyConfiguredEnv, match="CREDIT_PACKS"):
            credit_packs_parse(bad, currency="usd")
    with pytest.raises(ImproperlyConfiguredEnv, match="CREDIT_PACKS"):
        credit_packs_parse("10:15.50", currency="jpy")


# ---------- the account page and Buy ----------


@override_settings(STRIPE_SECRET_KEY="")
def test_without_a_key_the_page_shows_packs_and_says_payments_are_not_configured(user):
    page = signed_in(user).get("/account/").content.decode()
    assert "Payments are not configured; ask an administrator." in page
    assert "18.00 USD" in page and "about 5.6 hours of audio" in page
    assert 'action="/billing/buy/"' not in page
    response = signed_in(user).post("/billing/buy/", {"pack": "5"}, follow=True)
    assert "Payments are not configured" in response.content.decode()
    assert not Purchase.objects.exists()


def test_buy_makes_a_checkout_session_and_redirects_to_it(stripe_standin, user):
    page = signed_in(user).get("/account/").content.decode()
    assert 'action="/billing/buy/"' in page and "not configured" not in page
    purchase, location = buy(user, "20")
    assert location == f"{stripe_standin.url}/c/pay/{purchase.stripe_session_id}"
    assert (purchase.credits, purchase.amount, purchase.currency) == (20 * MICRO, 1800, "usd")
    params = stripe_standin.created_params[-1]
    assert params["mode"] == "payment"
    assert params["client_reference_id"] == str(user.id)
    assert (params["metadata[account_id]"], params["metadata[pack]"]) == (str(user.id), "20")
    assert params["line_items[0][price_data][unit_amount]"] == "1800"
    assert params["success_url"].startswith("http://testserver/account/?checkout=success")
    assert params["cancel_url"].startswith("http://testserver/account/?checkout=cancelled")
    assert "Awaiting payment" in signed_in(user).get("/account/").content.decode()


def test_buy_needs_a_post_with_csrf_and_a_real_pack(stripe_standin, user):
    assert signed_in(user).get("/billing/buy/").status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(user)
    assert strict.post("/billing/buy/", {"pack": "5"}).status_code == 403
    assert Client().post("/billing/buy/", {"pack": "5"}).status_code == 302  # to sign in
    response = signed_in(user).post("/billing/buy/", {"pack": "7"}, follow=True)
    assert "There is no such pack of credits." in response.content.decode()
    assert not Purchase.objects.exists()


# ---------- the webhook ----------


def test_a_paid_checkout_credits_its_pack_once(stripe_standin, user):
    purchase, _ = buy(user)
    stripe_standin.pay(purchase.stripe_session_id)
    payload = completed(stripe_standin, purchase)
    assert deliver(payload, header=signature(payload)) == (200, "credited")
    assert deliver(payload, header=signature(payload))[0] == 200  # Stripe redelivers
    again = completed(stripe_standin, purchase, "checkout.session.async_payment_succeeded")
    assert deliver(again, header=signature(again))[0] == 200
    assert credited(user) == 1
    entry = LedgerEntry.objects.get(user=user, kind="purchase")
    assert (entry.amount, entry.purchase_id) == (5 * MICRO, purchase.id)
    assert purchase.stripe_session_id in entry.reason
    purchase.refresh_from_db()
    assert purchase.status == "paid" and purchase.stripe_payment_intent.startswith("pi_")
    assert wallet_for(user).balance == 6 * MICRO == ledger_sum(user)


def test_unsigned_mis_signed_stale_or_unpaid_events_credit_nothing(stripe_standin, user):
    purchase, _ = buy(user)
    paid = event_payload("checkout.session.completed", stripe_standin.pay(purchase.stripe_session_id))
    assert deliver(paid)[0] == 400
    assert deliver(paid, header="t=1,v1=deadbeef")[0] == 400
    assert deliver(paid, header=signature(paid, secret="whsec_someone_else"))[0] == 400
    assert deliver(paid, header=signature(paid, timestamp=int(time.time()) - 301))[0] == 400
    assert deliver(paid.replace('"paid"', '"unpaid"'), header=signature(paid))[0] == 400  # altered
    assert credited(user) == 0
    # Signed, but the session is not paid (an async method still pending); then the event says
    # paid when Stripe's API says it is not.
    other, _ = buy(user, "20")
    unpaid = completed(stripe_standin, other)
    assert deliver(unpaid, header=signature(unpaid)) == (200, "not paid yet")
    forged = unpaid.replace('"payment_status": "unpaid"', '"payment_status": "paid"')
    assert deliver(forged, header=signature(forged)) == (200, "not paid")
    assert credited(user) == 0 and wallet_for(user).balance == MICRO
    assert set(Purchase.objects.values_list("status", flat=True)) == {"created"}


def test_a_session_made_for_one_account_never_credits_another(stripe_standin, user, other_user):
    purchase, _ = buy(user)
    session = stripe_standin.pay(purchase.stripe_session_id)
    claimed = {"account_id": str(other_user.id), "pack": "100"}
    session |= {"client_reference_id": str(other_user.id), "metadata": claimed}
    payload = event_payload("checkout.session.completed", session)
    assert deliver(payload, header=signature(payload)) == (200, "credited")
    assert credited(other_user) == 0 and wallet_for(other_user).balance == MICRO
    assert wallet_for(user).balance == 6 * MICRO  # the 5 of the purchase, not the 100 claimed


def test_a_payment_of_another_amount_credits_nothing_and_flags_the_purchase(stripe_standin, user):
    purchase, _ = buy(user, "100")
    stripe_standin.pay(purchase.stripe_session_id)
    stripe_standin.sessions[purchase.stripe_session_id]["amount_total"] = 50
    payload = completed(stripe_standin, purchase)
    assert deliver(payload, header=signature(payload))[0] == 200
    purchase.refresh_from_db()
    assert purchase.status == "created" and "50 usd" in purchase.problem
    assert credited(user) == 0


def test_unknown_events_are_ignored_and_expired_sessions_marked(stripe_standin, user):
    payload = event_payload("customer.created", {"id": "cus_1", "object": "customer"})
    assert deliver(payload, header=signature(payload)) == (200, "ignored customer.created")
    purchase, _ = buy(user)
    session = stripe_standin.sessions[purchase.stripe_session_id] | {"status": "expired"}
    expired = event_payload("checkout.session.expired", session)
    assert deliver(expired, header=signature(expired)) == (200, "expired")
    purchase.refresh_from_db()
    assert purchase.status == "expired" and purchase.expired_at is not None


def test_a_refund_takes_back_at_most_what_is_left(stripe_standin, user):
    purchase, _ = buy(user)
    payload = event_payload("checkout.session.completed", stripe_standin.pay(purchase.stripe_session_id))
    deliver(payload, header=signature(payload))
    purchase.refresh_from_db()
    credits_admin_change(user=user, amount=-(5 * MICRO + MICRO // 2), actor=None, reason="spent on audio")
    refund = event_payload(
        "charge.refunded", charge_refunded(purchase.stripe_payment_intent, amount=500, amount_refunded=500)
    )
    assert deliver(refund, header=signature(refund)) == (200, "refund taken back")
    assert deliver(refund, header=signature(refund)) == (200, "nothing to take back")
    purchase.refresh_from_db()
    assert (purchase.refund_taken, purchase.refund_shortfall) == (MICRO // 2, 4 * MICRO + MICRO // 2)
    assert purchase.refunded_at is not None and purchase.status == "paid"
    entry = LedgerEntry.objects.get(user=user, kind="purchase_refund")
    assert (entry.amount, entry.balance_after, entry.purchase_id) == (-(MICRO // 2), 0, purchase.id)
    assert wallet_for(user).balance == 0 == ledger_sum(user)


def test_a_partial_refund_takes_back_its_share(stripe_standin, user):
    purchase, _ = buy(user, "20")
    payload = event_payload("checkout.session.completed", stripe_standin.pay(purchase.stripe_session_id))
    deliver(payload, header=signature(payload))
    purchase.refresh_from_db()
    for refunded in (900, 900, 1800):  # half, the same event again, then the rest
        refund = event_payload(
            "charge.refunded", charge_refunded(purchase.stripe_payment_intent, amount=1800, amount_refunded=refunded)
        )
        assert deliver(refund, header=signature(refund))[0] == 200
    assert list(LedgerEntry.objects.filter(kind="purchase_refund").values_list("amount", flat=True)) == [
        -10 * MICRO,
        -10 * MICRO,
    ]
    assert wallet_for(user).balance == MICRO


# ---------- a 402 points to the page ----------


def test_the_402_message_points_to_the_account_page(user, builtin_voices):
    """The Studio's composer shows the JSON `error` of a refused generation as it is (studio.js
    showError); the API's 402 carries the same message."""
    from accounts.services import token_create
    from studio.services import session_create

    assert "Top up in your account: /account/" in str(InsufficientCredits(10, 0))
    credits_admin_change(user=user, amount=-MICRO, actor=None, reason="nothing left")
    speech = {"text": "Too dear.", "voice_id": str(builtin_voices["EN-MALE-1-NEUTRAL"].id)}
    session = session_create(owner=user, title="Short")
    studio = signed_in(user).post(f"/studio/sessions/{session.id}/generations", speech, content_type="application/json")
    assert studio.status_code == 402 and studio.json()["code"] == "INSUFFICIENT_CREDITS"
    message = studio.json()["message"]
    assert "enough credits" in message and "Top up in your account: /account/" in message
    secret = token_create(user=user, name="api")[1]
    api = Client().post(
        "/api/v1/tts_non_stream",
        speech | {"model_name": "outetts_1_pro"},
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret}"},
    )
    assert api.status_code == 402 and "Top up in your account: /account/" in api.json()["message"]


def test_admin_lists_purchases_read_only(stripe_standin, user):
    admin = account_make("root@example.com")
    admin.is_staff = admin.is_superuser = True
    admin.save()
    purchase, _ = buy(user)
    client = signed_in(admin)
    listing = client.get("/admin/billing/purchase/", {"q": purchase.stripe_session_id}).content.decode()
    assert user.email in listing and "could not take back" in listing
    assert client.get("/admin/billing/purchase/add/").status_code == 403
