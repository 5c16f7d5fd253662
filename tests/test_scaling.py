"""Several engines behind the workers: the work goes on when an engine dies under it."""

import httpx
import pytest

from accounts.services import token_create
from billing.selectors import ledger_sum, wallet_for
from harness.processes import engine_start
from studio.models import Generation
from tests.audio_checks import transcribe, wav_info, word_error_rate
from tests.conftest import private_stack

pytestmark = pytest.mark.stack

SENTENCES = [
    "The first engine starts this text.",
    "It is stopped while it speaks.",
    "The second engine takes over from the sentence that was not finished.",
    "Nothing is lost and nothing is said twice.",
    "The listener hears every sentence once.",
]
# Long enough that the first engine is still at work when it is stopped.
TEXT = " ".join(SENTENCES * 5)


@pytest.fixture
def two_engine_stack(transactional_db, django_db_setup):
    """Two engines, two workers that know both, and a web process, on a queue of their own."""
    engines = [engine_start(name) for name in ("engine-a", "engine-b")]
    urls = ",".join(e.url for e in engines)
    try:
        with private_stack(engines[0].url, workers=2, extra_env={"ENGINE_URLS": urls}) as (web_url, workers):
            yield web_url, (engines, workers)
    finally:
        for engine in engines:
            engine.stop()


def test_a_second_engine_takes_over_mid_run(two_engine_stack, user, builtin_voices):
    web_url, (engines, _) = two_engine_stack
    _, secret = token_create(user=user, name="scale")
    body = {"text": TEXT, "voice": "EN-MALE-1-NEUTRAL", "model": "outetts_1_pro"}
    headers = {"Authorization": f"Bearer {secret}"}
    with httpx.stream("POST", f"{web_url}/api/v1/tts_stream", json=body, headers=headers, timeout=180) as response:
        assert response.status_code == 200
        chunks = response.iter_bytes()
        audio = next(chunks)
        while len(audio) < 44 + 24_000:  # half a second of speech: the first engine is at work
            audio += next(chunks)
        generation = Generation.objects.get()
        assert generation.status == "running" and generation.chunk < generation.chunks
        warm = [httpx.get(f"{e.url}/health").json()["warm"] for e in engines]
        assert sorted(warm) == [False, True], "one engine is at work, the other has not worked yet"
        first, second = engines if warm[0] else engines[::-1]
        first.kill()
        audio += b"".join(chunks)
    # The second engine loaded its model to finish the text.
    assert httpx.get(f"{second.url}/health").json()["warm"] is True

    generation = Generation.objects.get()
    assert generation.status == "done", generation.error
    assert generation.chunk == generation.chunks == 25
    rate, channels, width, seconds = wav_info(audio)
    assert (rate, channels, width) == (24_000, 1, 2)
    assert seconds == pytest.approx(generation.seconds, abs=0.01)
    heard = transcribe(audio)
    assert word_error_rate(TEXT, heard) <= 0.35, heard
    assert wallet_for(user).balance == ledger_sum(user) == 1_000_000 - generation.cost


def test_with_every_engine_down_work_is_502_and_free(two_engine_stack, user, builtin_voices):
    web_url, (engines, _) = two_engine_stack
    for engine in engines:
        engine.stop()
    _, secret = token_create(user=user, name="scale")
    for path in ["/api/v1/tts_stream", "/api/v1/tts_non_stream"]:
        response = httpx.post(
            f"{web_url}{path}",
            json={"text": "Anyone?", "voice": "EN-MALE-1-NEUTRAL", "model": "outetts_1_pro"},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=120,
        )
        assert response.status_code == 502 and response.json()["code"] == "TTS_PROVIDER_UNAVAILABLE"
    assert set(Generation.objects.values_list("status", "cost")) == {("failed", 0)}
    assert wallet_for(user).balance == 1_000_000 and wallet_for(user).held == 0


def test_work_spreads_over_two_workers_and_two_engines(two_engine_stack, user, builtin_voices):
    from concurrent.futures import ThreadPoolExecutor

    web_url, (engines, workers) = two_engine_stack
    _, secret = token_create(user=user, name="scale")

    def speak(index: int) -> httpx.Response:
        return httpx.post(
            f"{web_url}/api/v1/tts_non_stream",
            json={"text": " ".join(SENTENCES[:3]), "voice": "EN-FEMALE-1-NEUTRAL", "model": "outetts_1_pro"},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=180,
        )

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(speak, range(6)))
    assert [r.status_code for r in responses] == [200] * 6
    assert all(wav_info(r.content)[3] > 3 for r in responses)
    # Each engine loaded its model, and each worker ran jobs.
    assert all(httpx.get(f"{e.url}/health").json()["warm"] for e in engines)
    for worker in workers:
        assert "/synthesize" in worker.log_path.read_text(), f"{worker.log_path} sent no work to an engine"
