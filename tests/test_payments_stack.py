"""Issue 16 through the running stack: real web processes (uvicorn) and a worker on the test
database, STRIPE_API_BASE on the local stand-in for Stripe's API (tests/stripe_standin.py: Stripe
cannot be reached from here), and events signed as Stripe signs them, delivered over HTTP, several at
once and to two web processes, as Stripe's retries and a deployment's several processes would.
Payments use no engine: the stack is given none. `credits check` runs after each test (conftest)."""

import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

import httpx
import pytest
from django.test import Client
from websockets.sync.client import ClientConnection, connect

from billing.models import LedgerEntry, Purchase
from billing.pricing import MICRO
from billing.selectors import ledger_sum, wallet_for
from billing.services import credits_admin_change
from harness.processes import free_port, running_process, web_command
from studio.services import session_create
from tests.conftest import _stack_env, private_stack
from tests.stripe_standin import StripeStandIn, charge_refunded, event_payload, signature

pytestmark = pytest.mark.stack

NO_ENGINE = "http://127.0.0.1:9"
WEBHOOK = "/billing/stripe/webhook/"


@dataclass
class PayingStack:
    web_urls: list[str]
    stripe: StripeStandIn


@pytest.fixture(scope="module")
def _paying_stack(django_db_setup, django_db_blocker) -> Iterator[PayingStack]:
    with ExitStack() as stack:
        stripe = stack.enter_context(StripeStandIn())
        web_url, _ = stack.enter_context(private_stack(NO_ENGINE, extra_env=stripe.env()))
        # A second web process on the same database: a deployment's processes each take deliveries.
        port = free_port()
        second = f"http://127.0.0.1:{port}"
        env = _stack_env(NO_ENGINE) | stripe.env()
        stack.enter_context(
            running_process("own-web-2", web_command(port), env=env, ready_url=f"{second}/api/v1/health")
        )
        yield PayingStack([web_url, second], stripe)


@pytest.fixture
def paying(transactional_db, _paying_stack) -> PayingStack:
    return _paying_stack


def browser(web_url: str, user) -> httpx.Client:
    """A new signed-in browser of the account."""
    client = Client()
    client.force_login(user)
    return httpx.Client(base_url=web_url, timeout=30, cookies={"sessionid": client.cookies["sessionid"].value})


def studio_socket(web_url: str, user) -> ClientConnection:
    client = Client()
    client.force_login(user)
    studio_session = session_create(owner=user, title="Waiting for credits")
    return connect(
        web_url.replace("http", "ws") + f"/ws/studio/sessions/{studio_session.id}/",
        additional_headers={"Cookie": f"sessionid={client.cookies['sessionid'].value}", "Origin": web_url},
        open_timeout=30,
    )


def wallet_heard(socket: ClientConnection, timeout: float = 30.0) -> str:
    """The balance the first wallet.update the socket hears shows."""
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        if event.get("type") == "wallet.update":
            return event["balance_credits"]


def buy(web_url: str, user, pack: str = "5") -> tuple[Purchase, httpx.Response]:
    with browser(web_url, user) as signed_in:
        page = signed_in.get("/account/").text
        token = re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[0]
        response = signed_in.post(
            "/billing/buy/",
            data={"pack": pack, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{web_url}/account/"},
        )
    assert response.status_code == 302, response.text
    return Purchase.objects.get(user=user, pack=pack, status="created"), response


def deliver(web_url: str, payload: str, header: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"} | ({"Stripe-Signature": header} if header else {})
    return httpx.post(f"{web_url}{WEBHOOK}", content=payload, headers=headers, timeout=60)


def test_buy_goes_to_checkout_and_a_paid_session_credits_once_however_delivered(paying, user):
    first, second = paying.web_urls
    purchase, response = buy(first, user)
    assert response.headers["Location"] == f"{paying.stripe.url}/c/pay/{purchase.stripe_session_id}"
    paying.stripe.pay(purchase.stripe_session_id)
    session = paying.stripe.sessions[purchase.stripe_session_id]
    # The account's Studio page is open: its socket hears the new balance.
    socket = studio_socket(first, user)
    completed = event_payload("checkout.session.completed", session)
    succeeded = event_payload("checkout.session.async_payment_succeeded", session)
    # The same event twelve times at once, half to each web process, and the second event type too.
    deliveries = [(url, completed) for url in paying.web_urls * 6] + [(second, succeeded), (first, succeeded)]
    with ThreadPoolExecutor(len(deliveries)) as pool:
        answers = list(pool.map(lambda d: deliver(d[0], d[1], signature(d[1])), deliveries))
    assert [a.status_code for a in answers] == [200] * len(deliveries)
    assert sorted(a.text for a in answers).count("credited") == 1
    assert LedgerEntry.objects.filter(user=user, kind="purchase").count() == 1
    assert wallet_for(user).balance == 6 * MICRO == ledger_sum(user)
    with socket:
        assert wallet_heard(socket) == "6.000"
    purchase.refresh_from_db()
    assert purchase.status == "paid"
    with browser(first, user) as signed_in:
        page = signed_in.get("/account/?checkout=success").text
    assert "<strong>6.000</strong> credits" in page and "<td>Paid</td>" in page


def test_bad_events_credit_nothing_and_nobody_else_is_credited(paying, user, other_user):
    web_url = paying.web_urls[0]
    purchase, _ = buy(web_url, user)
    pending = event_payload("checkout.session.completed", paying.stripe.sessions[purchase.stripe_session_id])
    assert deliver(web_url, pending, signature(pending)).text == "not paid yet"
    session = paying.stripe.pay(purchase.stripe_session_id)
    # The event names another account and a bigger pack; only our record counts.
    claimed = {"account_id": str(other_user.id), "pack": "100"}
    paid = event_payload(
        "checkout.session.completed", session | {"client_reference_id": str(other_user.id), "metadata": claimed}
    )
    stale = signature(paid, timestamp=int(time.time()) - 400)
    for header in (None, "t=1,v1=00", signature(paid, secret="whsec_not_ours"), stale):
        assert deliver(web_url, paid, header).status_code == 400
    assert not LedgerEntry.objects.filter(kind="purchase").exists()
    assert deliver(web_url, paid, signature(paid)).text == "credited"
    assert wallet_for(other_user).balance == MICRO and not other_user.ledger_entries.filter(kind="purchase").exists()
    assert wallet_for(user).balance == 6 * MICRO


def test_a_refund_takes_back_at_most_what_is_left(paying, user):
    web_url = paying.web_urls[1]
    purchase, _ = buy(web_url, user, "20")
    paid = event_payload("checkout.session.completed", paying.stripe.pay(purchase.stripe_session_id))
    assert deliver(web_url, paid, signature(paid)).text == "credited"
    purchase.refresh_from_db()
    credits_admin_change(user=user, amount=-18 * MICRO, actor=None, reason="spent on audio")
    refund = event_payload(
        "charge.refunded", charge_refunded(purchase.stripe_payment_intent, amount=1800, amount_refunded=1800)
    )
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda url: deliver(url, refund, signature(refund)), paying.web_urls * 2))
    assert sorted(a.text for a in answers).count("refund taken back") == 1
    purchase.refresh_from_db()
    assert (purchase.refund_taken, purchase.refund_shortfall) == (3 * MICRO, 17 * MICRO)
    assert wallet_for(user).balance == 0 == ledger_sum(user)


def _csrf(page: str) -> str:
    return re.findall(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[0]


def test_a_new_user_signs_up_and_tops_up(paying):
    """As a new user would: sign up on the site, open the account page, press Buy, pay on
    (the stand-in for) Stripe's page, come back: the pack is on the balance and in the purchases."""
    web_url = paying.web_urls[0]
    phrase = "a long pass phrase 42"
    with httpx.Client(base_url=web_url, timeout=30, follow_redirects=True) as browser:
        signup = browser.get("/accounts/signup/")
        browser.post(
            "/accounts/signup/",
            data={
                "email": "newcomer@example.com",
                "password1": phrase,
                "password2": phrase,
                "csrfmiddlewaretoken": _csrf(signup.text),
            },
        ).raise_for_status()
        page = browser.get("/account/").text
        assert "<strong>1.000</strong> credits" in page
        assert "about 5.6 hours of audio" in page and "18.00 USD" in page and "not configured" not in page
        buy = browser.post(
            "/billing/buy/", data={"pack": "20", "csrfmiddlewaretoken": _csrf(page)}, follow_redirects=False
        )
        assert buy.status_code == 302 and buy.headers["Location"].startswith(f"{paying.stripe.url}/c/pay/cs_test_")
        session_id = buy.headers["Location"].rsplit("/", 1)[1]
        session = paying.stripe.pay(session_id)
        paid = event_payload("checkout.session.completed", session)
        assert deliver(web_url, paid, signature(paid)).text == "credited"
        back = browser.get(session["success_url"].removesuffix("#purchases")).text
    assert "<strong>21.000</strong> credits" in back and "Thank you" in back
    assert "<td>20 credits</td>" in back and "<td>Paid</td>" in back
    assert 'http-equiv="refresh"' not in back  # nothing left awaiting payment


def test_without_stripe_settings_the_page_says_payments_are_not_configured(transactional_db, user):
    port = free_port()
    web_url = f"http://127.0.0.1:{port}"
    with (
        running_process(
            "own-web-unpaid", web_command(port), env=_stack_env(NO_ENGINE), ready_url=f"{web_url}/api/v1/health"
        ),
        browser(web_url, user) as signed_in,
    ):
        page = signed_in.get("/account/").text
        buy = signed_in.post(
            "/billing/buy/", data={"pack": "5", "csrfmiddlewaretoken": _csrf(page)}, follow_redirects=True
        )
    assert "Payments are not configured; ask an administrator." in page
    assert "5.00 USD" in page and 'action="/billing/buy/"' not in page
    assert "Payments are not configured" in buy.text and not Purchase.objects.exists()
