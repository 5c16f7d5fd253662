"""Billing through the running stack: real generations, real PostgreSQL, requests at once."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from accounts.services import token_create
from billing.models import Hold, LedgerEntry
from billing.pricing import speech_cost, speech_hold, speech_seconds_max
from billing.selectors import ledger_sum, wallet_for
from billing.services import credits_admin_change
from studio.models import Generation
from tests.audio_checks import wav_info

pytestmark = pytest.mark.stack


def speech(builtin_voices, text: str) -> dict:
    return {"text": text, "voice_id": str(builtin_voices["EN-MALE-1-NEUTRAL"].id), "model_name": "outetts_1_pro"}


@pytest.fixture
def secret(transactional_db, user) -> str:
    return token_create(user=user, name="billing")[1]


def test_a_generation_costs_exactly_its_milliseconds(web_url, secret, user, builtin_voices):
    response = httpx.post(
        f"{web_url}/api/v1/tts_non_stream",
        json=speech(builtin_voices, "Every millisecond is billed, and nothing more."),
        headers={"Authorization": f"Bearer {secret}"},
        timeout=120,
    )
    assert response.status_code == 200
    pcm_bytes = len(response.content) - 44
    seconds = wav_info(response.content)[3]
    generation = Generation.objects.get()
    assert generation.cost == speech_cost(pcm_bytes) == round(seconds * 1000)
    entry = LedgerEntry.objects.get(user=user, kind="generation")
    assert (entry.amount, entry.generation) == (-generation.cost, generation)
    wallet = wallet_for(user)
    assert wallet.balance == 1_000_000 - generation.cost == ledger_sum(user)
    assert wallet.held == 0


def test_outages_and_refusals_cost_nothing(web_url, secret, user, builtin_voices, engine_process):
    headers = {"Authorization": f"Bearer {secret}"}
    engine_process.stop()
    try:
        response = httpx.post(
            f"{web_url}/api/v1/tts_stream", json=speech(builtin_voices, "Hello?"), headers=headers, timeout=60
        )
        assert response.status_code == 502
    finally:
        engine_process.start()
    credits_admin_change(user=user, amount=-999_990, actor=None, reason="leave almost nothing")
    response = httpx.post(
        f"{web_url}/api/v1/tts_stream", json=speech(builtin_voices, "Too dear."), headers=headers, timeout=60
    )
    assert response.status_code == 402 and response.json()["code"] == "INSUFFICIENT_CREDITS"
    assert Generation.objects.get().status == "failed"
    assert not LedgerEntry.objects.filter(kind="generation").exists()
    assert wallet_for(user).balance == 10 == ledger_sum(user) and wallet_for(user).held == 0


def test_twenty_requests_at_once_never_overdraw(web_url, secret, user, builtin_voices):
    """A balance that covers about three generations, then twenty at once through the API."""
    text = "A short sentence to bill."
    hold = speech_hold(speech_seconds_max(text))
    credits_admin_change(user=user, amount=-(1_000_000 - int(hold * 3.5)), actor=None, reason="about three")

    def request(_: int) -> httpx.Response:
        return httpx.post(
            f"{web_url}/api/v1/tts_non_stream",
            json=speech(builtin_voices, text),
            headers={"Authorization": f"Bearer {secret}"},
            timeout=180,
        )

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(request, range(20)))

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {200, 402}, statuses
    done = [response for response in responses if response.status_code == 200]
    assert 3 <= len(done) < 20
    assert all(r.json()["code"] == "INSUFFICIENT_CREDITS" for r in responses if r.status_code == 402)
    assert all(wav_info(response.content)[3] > 0.5 for response in done)

    generations = Generation.objects.all()
    assert generations.count() == len(done), "a refused request stores nothing"
    assert all(g.status == "done" and g.cost > 0 for g in generations)
    wallet = wallet_for(user)
    assert wallet.balance >= 0 and wallet.held == 0
    assert wallet.balance == ledger_sum(user) == int(hold * 3.5) - sum(g.cost for g in generations)
    assert Hold.objects.filter(settled_at__isnull=True).count() == 0


def test_a_script_spending_its_last_credits_request_by_request_is_never_refused_wrongly(
    web_url, secret, user, builtin_voices
):
    """Each time the account can pay for two holds less one micro-credit: the second request, sent
    the moment the first's answer is in, is accepted only if the first's hold was settled by then.
    Each answer's stored audio is there once the answer is in, byte for byte the answer."""
    text = "A short sentence to bill."
    hold = speech_hold(speech_seconds_max(text))
    with httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {secret}"}, timeout=120) as api:
        for _ in range(3):
            balance = wallet_for(user).balance
            credits_admin_change(user=user, amount=2 * hold - 1 - balance, actor=None, reason="two holds less one")
            first = api.post("/api/v1/tts_non_stream", json=speech(builtin_voices, text))
            second = api.post("/api/v1/tts_non_stream", json=speech(builtin_voices, text))
            assert (first.status_code, second.status_code) == (200, 200), second.text
            for generation, answer in zip(
                Generation.objects.filter(user=user).order_by("-created_at")[:2], [second, first], strict=True
            ):
                with generation.audio.open("rb") as stored:
                    assert stored.read() == answer.content
    wallet = wallet_for(user)
    assert wallet.held == 0 and wallet.balance == ledger_sum(user)
