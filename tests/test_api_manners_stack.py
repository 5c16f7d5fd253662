"""API manners through the running stack (uvicorn, a Celery worker, the CPU engine): a retry with
the same Idempotency-Key, one after the other or at once, is one generation and one charge; the
web process's log names each request's X-Request-Id; the rate limit's headers count down."""

import json
import threading
import uuid

import httpx
import pytest

from accounts.services import token_create
from api.models import IdempotencyKey
from billing.models import LedgerEntry
from harness.processes import free_port, running_process, web_command
from studio.models import Generation
from tests.conftest import _stack_env
from tests.reference_clips import clip, to_wav
from tests.waiting import generation_wait_finished, wait_for

pytestmark = pytest.mark.stack

TEXT = "We will meet at the station at noon and take the train to the city."


@pytest.fixture(scope="module")
def manners_web(django_db_setup, worker, engine_url):
    """A web process of this module's own (its log is read), on the suite's worker."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with running_process(
        "manners-web", web_command(port), env=_stack_env(engine_url), ready_url=f"{url}/api/v1/health"
    ) as process:
        yield url, process.log_path


@pytest.fixture
def api(transactional_db, manners_web, user, builtin_voices):
    secret = token_create(user=user, name="manners")[1]
    with httpx.Client(base_url=manners_web[0], headers={"Authorization": f"Bearer {secret}"}, timeout=180) as client:
        yield client


def speech(builtin_voices, text: str = TEXT) -> dict:
    return {"text": text, "voice_id": str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id), "model_name": "outetts_1_pro"}


def charges(user) -> list[LedgerEntry]:
    for generation in Generation.objects.filter(user=user):
        generation_wait_finished(generation.id)
    return list(LedgerEntry.objects.filter(user=user, kind=LedgerEntry.Kind.GENERATION))


@pytest.mark.parametrize("path", ["/api/v1/tts_non_stream", "/api/v1/tts_stream"])
def test_the_same_key_twice_is_one_generation_and_one_charge(api, user, builtin_voices, path):
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    first = api.post(path, json=speech(builtin_voices), headers=key)
    assert first.status_code == 200 and first.content.startswith(b"RIFF") and len(first.content) > 48_000
    again = api.post(path, json=speech(builtin_voices), headers=key)
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    # A stream's replay is the whole file it sent, in its format.
    assert again.content == first.content and again.headers["Content-Type"] == first.headers["Content-Type"]
    assert Generation.objects.filter(user=user).count() == 1 and len(charges(user)) == 1

    other = api.post(path, json=speech(builtin_voices, "Another text entirely."), headers=key)
    assert other.status_code == 409 and other.json()["code"] == "IDEMPOTENCY_CONFLICT", other.text
    assert Generation.objects.filter(user=user).count() == 1


def test_concurrent_first_requests_with_one_key_are_one_generation(api, user, builtin_voices):
    key = {"Idempotency-Key": "at-once"}
    body = speech(builtin_voices, " ".join([TEXT] * 3))
    start = threading.Barrier(4)
    answers: list[httpx.Response] = []

    def send() -> None:
        start.wait()
        answers.append(api.post("/api/v1/tts_non_stream", json=body, headers=key))

    threads = [threading.Thread(target=send) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    made = [answer for answer in answers if answer.status_code == 200 and "Idempotent-Replayed" not in answer.headers]
    waiting = [answer for answer in answers if answer.status_code == 409]
    assert len(made) == 1, [(answer.status_code, answer.headers) for answer in answers]
    assert waiting and all(answer.json()["code"] == "IDEMPOTENCY_IN_PROGRESS" for answer in waiting)
    assert all(answer.headers["Retry-After"] == "1" for answer in waiting)
    assert api.post("/api/v1/tts_non_stream", json=body, headers=key).content == made[0].content
    assert Generation.objects.filter(user=user).count() == 1 and len(charges(user)) == 1


def test_without_a_key_each_request_runs_and_the_rate_limit_counts_down(api, user, builtin_voices, settings):
    answers = [api.post("/api/v1/tts_non_stream", json=speech(builtin_voices, "Hello there.")) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert all("Idempotent-Replayed" not in answer.headers for answer in answers)
    limit = settings.TTS_RATE_LIMIT_PER_MINUTE
    assert [answer.headers["RateLimit-Limit"] for answer in answers] == [str(limit)] * 2
    assert [int(answer.headers["RateLimit-Remaining"]) for answer in answers] == [limit - 1, limit - 2]
    assert all(1 <= int(answer.headers["RateLimit-Reset"]) <= 60 for answer in answers)
    assert Generation.objects.filter(user=user).count() == 2 and len(charges(user)) == 2


def test_the_web_log_names_each_requests_id(api, manners_web, builtin_voices):
    log_path = manners_web[1]
    ours = f"manners-{uuid.uuid4().hex[:8]}"
    missing = {**speech(builtin_voices), "voice_id": str(uuid.uuid4())}
    answer = api.post("/api/v1/tts_non_stream", json=missing, headers={"X-Request-Id": ours})
    assert answer.status_code == 404 and answer.headers["X-Request-Id"] == ours
    made = api.post("/api/v1/tts_non_stream", json=missing)
    generated = made.headers["X-Request-Id"]
    assert len(generated) == 32 and generated != ours

    def logged() -> bool:
        text = log_path.read_text(errors="replace")
        return f"[{ours}]: Not Found: /api/v1/tts_non_stream" in text and f"[{generated}]: Not Found" in text

    wait_for(logged, timeout=10, what="the requests' ids in the web log")
    assert json.loads(answer.content)["code"] == "NOT_FOUND"


def test_a_clone_retried_with_its_key_is_one_clone_and_one_charge(api, user):
    audio = to_wav(*clip("slt", 8))
    key = {"Idempotency-Key": "clone-once"}
    # httpx draws a new multipart boundary each time: the same form is still the same request.
    answers = [
        api.post(
            "/api/v1/voice-clones", data={"speaker_name": "Stella"}, files={"audio": ("v.wav", audio)}, headers=key
        )
        for _ in range(2)
    ]
    assert [answer.status_code for answer in answers] == [201, 201], answers[0].text
    assert answers[1].json() == answers[0].json() and answers[1].headers["Idempotent-Replayed"] == "true"
    assert api.get("/api/v1/voice-clones").json()["data"]["quota"]["used"] == 1
    assert LedgerEntry.objects.filter(user=user, kind=LedgerEntry.Kind.CLONE).count() == 1


def test_a_legacy_request_retried_with_its_key_is_replayed(api, manners_web, user, builtin_voices):
    secret = token_create(user=user, name="legacy")[1]
    body = {"text": "Hello there.", "speaker": {"default": "EN-FEMALE-1-NEUTRAL"}, "token": secret}
    key = {"Idempotency-Key": "legacy-once"}
    answers = [httpx.post(f"{manners_web[0]}/api/v1/tts", json=body, headers=key, timeout=120) for _ in range(2)]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[1].content == answers[0].content and b"request_finished" in answers[0].content
    assert Generation.objects.filter(user=user).count() == 1 and len(charges(user)) == 1


def test_a_stream_left_by_its_caller_keeps_no_answer(api, user, builtin_voices):
    key = {"Idempotency-Key": "left"}
    body = speech(builtin_voices, " ".join([TEXT] * 40))
    with api.stream("POST", "/api/v1/tts_stream", json=body, headers=key) as response:
        assert response.status_code == 200
        next(response.iter_bytes())
        assert IdempotencyKey.objects.get(user=user).state == IdempotencyKey.State.RUNNING
    generation = generation_wait_finished(Generation.objects.get(user=user).id, timeout=120)
    assert generation.status == Generation.Status.CANCELLED
    # What went out was not the whole answer: the key is free, and a retry runs anew.
    wait_for(lambda: not IdempotencyKey.objects.filter(user=user).exists(), timeout=10, what="the key released")
