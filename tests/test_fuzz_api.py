"""The API fuzzed from its own OpenAPI description (schemathesis) against the running stack.

The description is read from the live web process (`/api/v1/openapi.json` under uvicorn, with the
worker and the engine behind it). Every operation gets generated requests, valid and invalid, with
a valid token; some speech requests are steered onto a real voice and model so that they reach the
worker and the engine. Whatever is sent: no 5xx, and every error is the API's envelope
`{"success": false, "code", "message"}` with the status its code stands for.

Bounded: a fixed number of examples per operation (few for speech, which really generates audio),
derandomized so a run is repeatable, and the whole test under a time limit. The per-account rate
limit (60 a minute) is spread over several accounts; a 429 that still comes must be in the envelope.
"""

import itertools
import json
from collections.abc import Iterator

import pytest
import schemathesis
from django.db.models import Count
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from accounts.models import User
from accounts.services import token_create
from billing.models import Hold
from billing.selectors import ledger_sum, wallet_for
from billing.services import credits_admin_change, credits_signup_grant
from core.errors import STATUS_BY_CODE
from studio.models import Generation
from tests.waiting import generation_wait_finished

pytestmark = [pytest.mark.stack, pytest.mark.timeout(900)]

ACCOUNTS = 6
SPEECH_PATHS = ("/api/v1/tts_non_stream", "/api/v1/tts_stream", "/api/v1/tts")
FUZZ_SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "suppress_health_check": list(HealthCheck),
    "print_blob": False,
    # Report the first failing request as it was, without spending minutes shrinking it.
    "phases": [Phase.explicit, Phase.generate],
}


class Fuzzing:
    """The accounts the fuzzer acts as, their tokens in turn, and what it saw."""

    def __init__(self, web_url: str, secrets: list[str], voice_id: str) -> None:
        self.web_url = web_url
        self.secrets = secrets
        self.tokens = itertools.cycle(secrets)
        self.voice_id = voice_id
        self.statuses: dict[str, dict[int, int]] = {}
        self.count = 0

    def record(self, label: str, status: int) -> None:
        self.count += 1
        by_status = self.statuses.setdefault(label, {})
        by_status[status] = by_status.get(status, 0) + 1


@pytest.fixture
def fuzzing(transactional_db, web_url, builtin_voices) -> Iterator[Fuzzing]:
    secrets = []
    for index in range(ACCOUNTS):
        account = User.objects.create_user(email=f"fuzz{index}@example.com", password="fuzz pass phrase 42")
        credits_signup_grant(account)
        credits_admin_change(user=account, amount=20_000_000, actor=None, reason="fuzzing")
        secrets.append(token_create(user=account, name="fuzz")[1])
    fuzzing = Fuzzing(web_url, secrets, str(builtin_voices["EN-MALE-1-NEUTRAL"].id))
    yield fuzzing
    # After the fuzzing: whatever was accepted has ended, paid through the ledger, nothing held.
    for generation in Generation.objects.all():
        generation_wait_finished(generation.id, timeout=180)
    for account in User.objects.filter(email__startswith="fuzz"):
        wallet = wallet_for(account)
        assert wallet.held == 0 and wallet.balance == ledger_sum(account), account.email
    assert not Hold.objects.filter(settled_at__isnull=True).exists()
    print(f"\nfuzzing: {fuzzing.count} requests, answers by operation: {json.dumps(fuzzing.statuses, sort_keys=True)}")
    print(f"generations: {dict(Generation.objects.values_list('status').annotate(n=Count('id')))}")


def _operations(fuzzing: Fuzzing, speech: bool) -> list:
    """The operations of the description the live web process serves (not the one in this process)."""
    loaded = schemathesis.openapi.from_url(f"{fuzzing.web_url}/api/v1/openapi.json", timeout=30)
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    return [op for op in operations if op.path.startswith("/api/v1/tts") == speech]


def _fuzz(fuzzing: Fuzzing, operations: list, max_examples: int) -> None:
    """Valid and invalid requests for each operation; every failure is collected, none shrunk."""
    failures = []
    for operation in operations:
        modes = []
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                modes.append(operation.as_strategy(generation_mode=mode))
            except Exception:  # noqa: S112 - an operation with nothing to make invalid
                continue

        @settings(max_examples=max_examples, **FUZZ_SETTINGS)
        @given(case=st.one_of(modes))
        def run(case) -> None:
            _check(case, _call(case, fuzzing), fuzzing)

        try:
            run()
        except Exception as failure:
            failures.append(f"{operation.label}: {type(failure).__name__}: {failure}")
    assert not failures, "\n\n".join(failures)


def _steered(case, fuzzing: Fuzzing) -> None:
    """Every other speech request gets a real voice, the model and a short text, so that the fuzzed
    text reaches the worker and the engine (and the legacy one a real token)."""
    body = case.body
    if not isinstance(body, dict) or case.operation.path not in SPEECH_PATHS:
        return
    if hash(json.dumps(body, sort_keys=True, default=str)) % 2:
        return
    text = body.get("text")
    if isinstance(text, str):
        body["text"] = text[:120] + " hello"
    if case.operation.path == "/api/v1/tts":
        body["token"] = next(fuzzing.tokens)
        body["speaker"] = {"default": "EN-MALE-1-NEUTRAL"}
    else:
        body["voice_id"] = fuzzing.voice_id
        body["model_name"] = "outetts_1_pro"


def _check(case, response, fuzzing: Fuzzing) -> None:
    label = f"{case.operation.method.upper()} {case.operation.path}"
    fuzzing.record(label, response.status_code)
    sent = f"{label} body={case.body!r:.300} query={case.query!r:.200}"
    assert response.status_code < 500, f"{sent} → {response.status_code} {response.text[:300]}"
    if response.status_code < 400:
        return
    assert _header(response, "content-type").startswith("application/json"), (sent, response.headers)
    envelope = response.json()
    assert set(envelope) == {"success", "code", "message"}, (sent, envelope)
    assert envelope["success"] is False and isinstance(envelope["message"], str) and envelope["message"], envelope
    assert STATUS_BY_CODE.get(envelope["code"]) == response.status_code, (sent, response.status_code, envelope)
    if response.status_code == 429:
        assert int(_header(response, "retry-after")) >= 1


def _header(response, name: str) -> str:
    value = {key.lower(): value for key, value in response.headers.items()}.get(name, "")
    return value[0] if isinstance(value, list) and value else str(value or "")


def _call(case, fuzzing: Fuzzing):
    _steered(case, fuzzing)
    headers = {"Authorization": f"Bearer {next(fuzzing.tokens)}"}
    return case.call(base_url=fuzzing.web_url, headers=headers, timeout=180)


def test_fuzz_the_api_but_speech(fuzzing):
    _fuzz(fuzzing, _operations(fuzzing, speech=False), max_examples=150)


def test_fuzz_the_speech_endpoints(fuzzing):
    _fuzz(fuzzing, _operations(fuzzing, speech=True), max_examples=25)
