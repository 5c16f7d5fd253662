"""Credits: exact arithmetic, a ledger that always sums to the balance, no balance below zero,
the admin's and the operator's tools."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.test import Client

from accounts.models import User
from billing import services as billing_services
from billing.models import Hold, LedgerEntry, Wallet
from billing.pricing import (
    BYTES_PER_SECOND,
    CLONE_PRICE,
    AmountError,
    credits_format,
    credits_parse,
    speech_cost,
    speech_hold,
    speech_seconds_max,
)
from billing.selectors import ledger_sum, spending_by_day, wallet_for
from billing.services import (
    InsufficientCredits,
    credits_admin_change,
    credits_change,
    hold_place,
    hold_settle,
)
from studio.models import Generation
from studio.services import GenerationRefused, generation_cancel, generation_create, session_create


@pytest.mark.parametrize("seconds", [1, 2, 7, 60, 299])
def test_n_seconds_cost_n_thousand_micro_credits(seconds):
    assert speech_cost(seconds * BYTES_PER_SECOND) == seconds * 1000


@pytest.mark.parametrize(
    ("samples", "micro"),
    [(24, 1), (12, 1), (11, 0), (36, 2), (24_012, 1001), (24_011, 1000), (0, 0)],
)
def test_audio_is_billed_to_the_nearest_millisecond(samples, micro):
    # 24 samples are a millisecond at 24 kHz: half a millisecond rounds up.
    assert speech_cost(samples * 2) == micro


def test_prices_of_the_published_docs():
    assert CLONE_PRICE == 25_000  # 0.025 credits
    assert credits_format(CLONE_PRICE) == "0.025"
    assert credits_format(speech_cost(BYTES_PER_SECOND)) == "0.001"


def test_the_hold_covers_the_longest_audio_the_text_may_become():
    text = "Hello there. The year 1984 had 365 days."
    seconds_max = speech_seconds_max(text)
    assert seconds_max > 2 + 0.06 * len(text), "at least twice an ordinary reading pace"
    assert speech_hold(seconds_max) >= speech_cost(int(seconds_max * BYTES_PER_SECOND))
    assert speech_seconds_max("1" * 10) > speech_seconds_max("a" * 10), "numbers take longer to say"


@pytest.mark.parametrize(
    ("text", "micro"),
    [("5", 5_000_000), ("0.25", 250_000), ("-1.5", -1_500_000), ("0.000001", 1), ("1,000", 1_000_000_000)],
)
def test_credit_amounts_parse_exactly(text, micro):
    assert credits_parse(text) == micro


@pytest.mark.parametrize("text", ["", "abc", "0.0000001", "NaN", "inf", "1e30"])
def test_bad_credit_amounts_are_refused(text):
    with pytest.raises(AmountError):
        credits_parse(text)


def test_amounts_are_shown_as_credits_with_their_decimals():
    assert [credits_format(m) for m in [0, 1, 10_300, 1_000_000, -2_500_000]] == [
        "0.000",
        "0.000001",
        "0.0103",
        "1.000",
        "-2.500",
    ]


def _generation(user, builtin_voices, text="Hello.") -> Generation:
    voice = builtin_voices["EN-MALE-1-NEUTRAL"]
    return Generation.objects.create(user=user, voice=voice, voice_name=voice.speaker_name, text=text)


def assert_books_balance(user) -> Wallet:
    wallet = Wallet.objects.get(user=user)
    assert wallet.balance == ledger_sum(user)
    assert wallet.balance >= 0 and 0 <= wallet.held <= wallet.balance
    running = 0
    for entry in LedgerEntry.objects.filter(user=user).order_by("created_at", "id"):
        running += entry.amount
        assert entry.balance_after == running
    return wallet


def test_signup_grant_is_one_credit_in_the_ledger(user):
    entry = LedgerEntry.objects.get(user=user)
    assert (entry.kind, entry.amount, entry.balance_after, entry.actor) == ("signup_grant", 1_000_000, 1_000_000, None)


@pytest.mark.django_db
def test_signing_up_through_the_site_grants_the_credits(client):
    client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "a long pass phrase 42", "password2": "a long pass phrase 42"},
    )
    user = User.objects.get(email="new@example.com")
    assert wallet_for(user).balance == 1_000_000
    assert LedgerEntry.objects.get(user=user).kind == "signup_grant"


@pytest.fixture(params=["one statement", "orm"])
def settle_path(request, monkeypatch):
    """Each way a hold is settled: PostgreSQL's one statement (what the suite's database takes) and
    the ORM's (what SQLite, `make run`'s fallback, takes), run on the same books."""
    if request.param == "orm":
        monkeypatch.setattr(billing_services, "_hold_settle_postgresql", billing_services._hold_settle_orm)
    return request.param


def test_the_balance_equals_the_ledger_after_grants_generations_failures_and_refunds(
    user, builtin_voices, admin_user, settle_path
):
    assert hold_settle(generation=_generation(user, builtin_voices), cost=5_000) == 0, "no hold: nothing charged"
    credits_admin_change(user=user, amount=2_000_000, actor=admin_user, reason="launch offer")
    done = _generation(user, builtin_voices)
    hold_place(user=user, generation=done, amount=50_000)
    assert wallet_for(user).held == 50_000
    assert hold_settle(generation=done, cost=3_217) == 3_217
    failed = _generation(user, builtin_voices)
    hold_place(user=user, generation=failed, amount=40_000)
    assert hold_settle(generation=failed, cost=0) == 0
    capped = _generation(user, builtin_voices)
    hold_place(user=user, generation=capped, amount=1_000)
    assert hold_settle(generation=capped, cost=5_000) == 1_000, "never more than was held"
    assert hold_settle(generation=capped, cost=5_000) == 1_000, "settling twice charges once"
    credits_change(user=user, amount=3_217, kind=LedgerEntry.Kind.REFUND, reason="garbled audio", generation=done)
    credits_admin_change(user=user, amount=-500_000, actor=admin_user, reason="correction")

    wallet = assert_books_balance(user)
    assert wallet.balance == 1_000_000 + 2_000_000 - 3_217 - 1_000 + 3_217 - 500_000
    assert wallet.held == 0
    kinds = list(LedgerEntry.objects.filter(user=user).order_by("id").values_list("kind", flat=True))
    assert kinds == ["signup_grant", "admin_grant", "generation", "generation", "refund", "admin_adjustment"]


def test_nothing_takes_the_balance_below_zero_nor_the_credits_held(user, builtin_voices):
    generation = _generation(user, builtin_voices)
    hold_place(user=user, generation=generation, amount=600_000)
    with pytest.raises(InsufficientCredits):
        credits_admin_change(user=user, amount=-500_000, actor=None, reason="too much: 600,000 are held")
    with pytest.raises(InsufficientCredits):
        hold_place(user=user, generation=_generation(user, builtin_voices), amount=400_001)
    with pytest.raises(IntegrityError), transaction.atomic():
        Wallet.objects.filter(user=user).update(balance=-1)
    assert_books_balance(user)
    assert Hold.objects.count() == 1


def test_a_refused_generation_costs_nothing_and_stores_nothing(user, builtin_voices):
    credits_admin_change(user=user, amount=-999_000, actor=None, reason="leave 1,000")
    session = session_create(owner=user)
    with pytest.raises(GenerationRefused) as refused:
        generation_create(
            user=user,
            session=session,
            text="A text too long for what is left.",
            voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id,
        )
    assert refused.value.code == "INSUFFICIENT_CREDITS"
    assert "enough credits" in refused.value.message
    assert not Generation.objects.exists() and not Hold.objects.exists()
    assert assert_books_balance(user).balance == 1_000


def test_cancelling_a_queued_generation_releases_its_hold(user, builtin_voices):
    session = session_create(owner=user)
    generation = generation_create(
        user=user, session=session, text="Never mind.", voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id
    )
    assert wallet_for(user).held == generation.hold.amount > 0
    generation_cancel(generation_id=generation.id)
    generation.refresh_from_db()
    assert generation.status == "cancelled" and generation.cost == 0
    assert assert_books_balance(user).held == 0


def test_spending_by_day_counts_charges_only(user, builtin_voices):
    generation = _generation(user, builtin_voices)
    hold_place(user=user, generation=generation, amount=10_000)
    hold_settle(generation=generation, cost=7_500)
    days = spending_by_day(user, days=30)
    assert len(days) == 30 and days[-1][1] == 7_500 and sum(spent for _, spent in days) == 7_500


def test_admin_grants_credits_with_the_admin_and_reason_in_the_ledger(admin_client, admin_user, user):
    changelist = admin_client.get("/admin/accounts/user/")
    assert b"1.000" in changelist.content, "accounts are listed with their balances"
    form = admin_client.post("/admin/accounts/user/", {"action": "change_credits", "_selected_action": [user.pk]})
    assert b"Amount in credits" in form.content
    bad = admin_client.post(
        "/admin/accounts/user/",
        {"action": "change_credits", "_selected_action": [user.pk], "apply": "1", "amount": "abc", "reason": "x"},
    )
    assert b"not an amount" in bad.content
    admin_client.post(
        "/admin/accounts/user/",
        {"action": "change_credits", "_selected_action": [user.pk], "apply": "1", "amount": "2.5", "reason": "support"},
    )
    entry = LedgerEntry.objects.filter(user=user).latest("id")
    assert (entry.kind, entry.amount, entry.actor, entry.reason) == ("admin_grant", 2_500_000, admin_user, "support")
    admin_client.post(
        "/admin/accounts/user/",
        {"action": "change_credits", "_selected_action": [user.pk], "apply": "1", "amount": "-9", "reason": "oops"},
    )
    assert wallet_for(user).balance == 3_500_000, "an adjustment below zero is refused"
    assert admin_client.get(f"/admin/billing/ledgerentry/{entry.pk}/change/").status_code in (200, 403)
    assert b"Save" not in admin_client.get(f"/admin/billing/ledgerentry/{entry.pk}/change/").content
    assert b"ada@example.com" in admin_client.get("/admin/billing/ledgerentry/?q=ada@").content


def test_credits_command_grants_adjusts_and_shows(user):
    out = StringIO()
    call_command("credits", "grant", user.email, "4", "--reason", "prize", stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == "5.000"
    call_command("credits", "grant", user.email, "-0.5", "--reason", "correction", stdout=StringIO())
    out = StringIO()
    call_command("credits", "show", user.email, stdout=out)
    assert out.getvalue().strip().splitlines()[-1] == "4.500"
    with pytest.raises(CommandError, match="available"):
        call_command("credits", "grant", user.email, "-100", "--reason", "too much", stdout=StringIO())
    with pytest.raises(CommandError):
        call_command("credits", "grant", "nobody@example.com", "1", "--reason", "x", stdout=StringIO())
    assert_books_balance(user)


def test_account_page_shows_balance_ledger_and_chart(client, user):
    client.force_login(user)
    page = client.get("/account/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "1.000" in html and "Signup grant" in html and "spending-chart" in html
    assert html.count('class="bar"') == 30


def test_studio_header_shows_the_balance(client, user):
    client.force_login(user)
    assert 'id="wallet-balance">1.000<' in client.get("/studio/", follow=True).content.decode()


@pytest.fixture
def admin_user(db):
    return User.objects.create_superuser(email="admin@example.com", password="admin pass phrase 42")


@pytest.fixture
def admin_client(admin_user):
    client = Client()
    client.force_login(admin_user)
    return client
