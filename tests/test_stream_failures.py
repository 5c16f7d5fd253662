"""Issue 12, streams: a failure never looks like success. Streams that fail after their first byte
are cut off (clients and the SDK raise), a whole-file request that fails charges nothing, the
legacy route answers a missing token 401, bodies are limited per route, /api/v1/health answers from
what the web last heard, and the suite never reaches a stack the developer runs beside it.

The failures are real: the engine of a stack of the test module's own is killed while it speaks.
"""

import asyncio
import json
import os
import select
import socket
import socketserver
import struct
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import pytest
from django.db import connection
from outeai import AsyncOuteAI, OuteAI, OuteAIError
from outeai.api.v1 import LegacyAPIError, TTSClient

from accounts.services import token_create
from billing.models import Hold, LedgerEntry
from billing.pricing import speech_cost
from billing.selectors import ledger_sum, wallet_for
from core.engines import HEALTH_TIMEOUT_SECONDS
from harness.processes import ROOT, RestartableProcess, engine_running, free_port, stack_env
from studio.models import Generation
from tests.conftest import private_stack

pytestmark = pytest.mark.stack

SENTENCES = [
    "We will meet at the station at noon and take the train to the city.",
    "Please call me back when you have a moment to talk about the plan.",
    "Good morning, I would like to order a cup of coffee and a piece of cake.",
]
# Long enough that its first audio is out well before the engine is killed.
TEXT = " ".join(SENTENCES * 6)
VOICE = "EN-MALE-1-NEUTRAL"
MODEL = "outetts_1_pro"
GRANT = 1_000_000
CUT_OFF = "peer closed connection without sending complete message body"


# ---------- a stack of the module's own, whose engine the tests kill ----------


@pytest.fixture(scope="module")
def fault_engine() -> Iterator[RestartableProcess]:
    with engine_running("streams-engine") as engine:
        yield engine


@pytest.fixture(scope="module")
def fault_web(django_db_setup, fault_engine: RestartableProcess) -> Iterator[str]:
    with private_stack(fault_engine.url) as (web_url, _):
        yield web_url


@pytest.fixture
def secret(transactional_db, user, builtin_voices) -> str:
    return token_create(user=user, name="streams")[1]


@contextmanager
def engine_killed_mid_text(engine: RestartableProcess) -> Iterator[threading.Event]:
    """Kills the engine (SIGKILL) once the generation under way has relayed its first text chunk's
    audio; starts it again afterwards. Yields an event set when the kill happened."""
    killed, done = threading.Event(), threading.Event()

    def watch() -> None:
        try:
            while not done.is_set():
                if Generation.objects.filter(status=Generation.Status.RUNNING, chunk__gte=2).exists():
                    engine.kill()
                    killed.set()
                    return
                time.sleep(0.05)
        finally:
            connection.close()

    watcher = threading.Thread(target=watch, name="engine-killer")
    watcher.start()
    try:
        yield killed
    finally:
        done.set()
        watcher.join()
        if engine._context is None:
            engine.start()


def assert_nothing_held(user) -> None:
    wallet = wallet_for(user)
    assert wallet.held == 0, "a hold was left"
    assert not Hold.objects.filter(settled_at__isnull=True).exists()
    assert wallet.balance == ledger_sum(user)


# ---------- 1. streams that fail say so ----------


def test_a_stream_whose_engine_dies_is_cut_off_not_finished(fault_engine, fault_web, secret, user):
    body = {"text": TEXT, "voice": VOICE, "model": MODEL}
    received = bytearray()
    with (
        engine_killed_mid_text(fault_engine) as killed,
        httpx.stream(
            "POST",
            f"{fault_web}/api/v1/tts_stream",
            json=body,
            headers={"Authorization": f"Bearer {secret}"},
            timeout=120,
        ) as response,
    ):
        assert response.status_code == 200
        # Before: the stream ended with its final chunk, as a finished (short) WAV does.
        with pytest.raises(httpx.RemoteProtocolError, match=CUT_OFF):
            for chunk in response.iter_bytes():
                received += chunk
    assert killed.is_set()
    generation = Generation.objects.get()
    assert generation.status == "failed" and generation.error_code == "TTS_PROVIDER_UNAVAILABLE"
    # The stream delivered audio before the failure, and still pays for exactly that.
    delivered = len(received) - 44
    assert delivered > 0
    assert generation.cost == speech_cost(delivered)
    assert wallet_for(user).balance == GRANT - generation.cost
    assert_nothing_held(user)


def test_the_sdk_raises_on_a_cut_off_stream_and_saves_no_file(
    fault_engine, fault_web, secret, builtin_voices, tmp_path
):
    voice_id = str(builtin_voices[VOICE].id)
    path = tmp_path / "broken.wav"
    with (
        OuteAI(secret, base_url=fault_web) as client,
        engine_killed_mid_text(fault_engine) as killed,
        pytest.raises(OuteAIError, match=CUT_OFF),
    ):
        client.stream_speech_to_file(path, text=TEXT, voice_id=voice_id)
    assert killed.is_set()
    assert not path.exists(), "a short WAV was left where the caller expects the whole one"

    async def listen() -> int:
        received = 0
        async with (
            AsyncOuteAI(secret, base_url=fault_web) as client,
            client.stream_speech(text=TEXT, voice_id=voice_id) as stream,
        ):
            async for chunk in stream:
                received += len(chunk)
        return received

    with engine_killed_mid_text(fault_engine) as killed, pytest.raises(OuteAIError, match=CUT_OFF):
        asyncio.run(listen())
    assert killed.is_set()
    assert list(Generation.objects.values_list("status", flat=True)) == ["failed", "failed"]


def test_a_legacy_stream_that_fails_says_why_then_is_cut_off_and_charges_nothing(fault_engine, fault_web, secret, user):
    body = {"token": secret, "text": TEXT, "speaker": {"default": VOICE}}
    lines = []
    with (
        engine_killed_mid_text(fault_engine) as killed,
        httpx.stream("POST", f"{fault_web}/api/v1/tts", json=body, timeout=120) as response,
    ):
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError, match=CUT_OFF):
            lines.extend(json.loads(line) for line in response.iter_lines())
    assert killed.is_set()
    assert lines[0]["generation_status"]
    assert lines[-1]["success"] is False and lines[-1]["code"] == "TTS_PROVIDER_UNAVAILABLE", lines[-1]
    assert not any("data" in line for line in lines), "no audio line"
    # The repo SDK's legacy client reads that last line and raises with its code.
    with (
        TTSClient(token=secret, base_url=fault_web) as client,
        engine_killed_mid_text(fault_engine) as killed,
        pytest.raises(LegacyAPIError) as raised,
    ):
        client.generate(text=TEXT, speaker={"default": VOICE}, verbose=False)
    assert killed.is_set() and raised.value.code == "TTS_PROVIDER_UNAVAILABLE"
    for generation in Generation.objects.all():
        assert generation.status == "failed" and generation.peaks, "audio was made before the failure"
        assert not generation.audio and generation.seconds == 0, "undelivered audio is not kept"
        # The legacy API delivers its audio only at the end: nothing was delivered, nothing is charged.
        assert generation.cost == 0
    assert Generation.objects.count() == 2
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.GENERATION).exists()
    assert wallet_for(user).balance == GRANT
    assert_nothing_held(user)


def test_the_sdk_saves_a_stream_with_its_true_wav_sizes(transactional_db, web_url, user, builtin_voices, tmp_path):
    secret = token_create(user=user, name="sdk")[1]
    voice_id = str(builtin_voices[VOICE].id)
    with OuteAI(secret, base_url=web_url) as client:
        sync_path = client.stream_speech_to_file(tmp_path / "sync.wav", text=SENTENCES[0], voice_id=voice_id)

    async def save() -> None:
        async with (
            AsyncOuteAI(secret, base_url=web_url) as client,
            client.stream_speech(text=SENTENCES[1], voice_id=voice_id) as stream,
        ):
            await stream.save(tmp_path / "async.wav")

    asyncio.run(save())
    for path in (sync_path, tmp_path / "async.wav"):
        wav = path.read_bytes()
        # Before: the sizes the stream's header carried (unknown length, 0xFFFFFFFF).
        assert struct.unpack_from("<I", wav, 4)[0] == len(wav) - 8
        assert struct.unpack_from("<I", wav, 40)[0] == len(wav) - 44
        with wave.open(str(path)) as reader:
            assert reader.getnframes() * 2 == len(wav) - 44 > 24_000
            assert len(reader.readframes(reader.getnframes())) == len(wav) - 44


# ---------- 2. a whole-file request that fails charges nothing ----------


def test_a_whole_file_request_whose_engine_dies_is_502_and_charges_nothing(fault_engine, fault_web, secret, user):
    body = {"text": TEXT, "voice": VOICE, "model": MODEL}
    with engine_killed_mid_text(fault_engine) as killed:
        response = httpx.post(
            f"{fault_web}/api/v1/tts_non_stream", json=body, headers={"Authorization": f"Bearer {secret}"}, timeout=180
        )
    assert killed.is_set()
    assert response.status_code == 502, response.text
    assert response.json()["success"] is False and response.json()["code"] == "TTS_PROVIDER_UNAVAILABLE"
    generation = Generation.objects.get()
    assert generation.status == "failed" and generation.peaks, "audio was made before the failure"
    assert not generation.audio and generation.seconds == 0, "undelivered audio is not kept"
    # Before: the hold was settled at the audio made, though the caller received none of it.
    assert generation.cost == 0
    assert not LedgerEntry.objects.filter(kind=LedgerEntry.Kind.GENERATION).exists()
    assert wallet_for(user).balance == GRANT
    assert_nothing_held(user)


# ---------- 3. the legacy route without a token ----------


def test_the_legacy_route_answers_a_missing_token_401(transactional_db, web_url, builtin_voices):
    for body in [
        {"text": "Hello there.", "speaker": {"default": VOICE}},
        {"token": "", "text": "Hello there.", "speaker": {"default": VOICE}},
        {"token": None, "text": "Hello there.", "speaker": {"default": VOICE}},
    ]:
        response = httpx.post(f"{web_url}/api/v1/tts", json=body, timeout=30)
        assert response.status_code == 401, (body, response.text)
        assert response.json() == {"success": False, "code": "UNAUTHORIZED", "message": "Missing or invalid token."}
    assert not Generation.objects.exists()


# ---------- 4. bodies limited per route ----------


def _address(web_url: str) -> tuple[str, int]:
    host, port = web_url.removeprefix("http://").split(":")
    return host, int(port)


def _answer(sock: socket.socket) -> tuple[int, dict]:
    answer = b""
    while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        answer += data
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), json.loads(body)


def test_a_large_legacy_body_is_refused_before_it_is_read(transactional_db, web_url):
    five_mb = 5 * 1024 * 1024
    head = "POST /api/v1/tts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    # A declared length: the answer comes from the headers, with none of the 5 MB sent. Before,
    # the server waited for the body (it was under the one limit every route had).
    with socket.create_connection(_address(web_url), timeout=30) as sock:
        sock.sendall(f"{head}Content-Length: {five_mb}\r\n\r\n".encode())
        status, body = _answer(sock)
    assert status == 413 and body["code"] == "PAYLOAD_TOO_LARGE" and body["success"] is False
    # No declared length: the server counts what arrives and answers while the rest is still
    # being sent. Before, it read the 5 MB whole and then answered 400 for the broken JSON.
    chunk = b"a" * 64 * 1024
    sent = 0
    with socket.create_connection(_address(web_url), timeout=30) as sock:
        sock.sendall(f"{head}Transfer-Encoding: chunked\r\n\r\n".encode())
        sock.sendall(b'%x\r\n{"token": "x", "text": "\r\n' % len(b'{"token": "x", "text": "'))
        while sent < five_mb and not select.select([sock], [], [], 0)[0]:
            try:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        status, body = _answer(sock)
    assert status == 413 and body["code"] == "PAYLOAD_TOO_LARGE"
    assert sent < five_mb, "the server waited for the whole body"


def test_each_route_has_its_own_body_limit(transactional_db, web_url, user, builtin_voices, settings):
    secret = token_create(user=user, name="limits")[1]
    headers = {"Authorization": f"Bearer {secret}"}
    voice_id = str(builtin_voices[VOICE].id)
    # A speech request carries a text of at most TTS_MAX_TEXT_CHARS: 200 KB of it is refused
    # before it is parsed (before: 400 from the text's validation, after reading it all).
    long_text = {"text": "a" * 200_000, "voice_id": voice_id, "model_name": MODEL}
    for path in ["/api/v1/tts_stream", "/api/v1/tts_non_stream"]:
        response = httpx.post(f"{web_url}{path}", json=long_text, headers=headers, timeout=30)
        assert response.status_code == 413 and response.json()["code"] == "PAYLOAD_TOO_LARGE", path
    # The longest text allowed, every character escaped at its longest, still gets through.
    longest = json.dumps({"text": "\U0001f600" * settings.TTS_MAX_TEXT_CHARS, "voice_id": voice_id, "model": MODEL})
    response = httpx.post(
        f"{web_url}/api/v1/tts_non_stream",
        content=longest,
        headers={**headers, "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR", response.text
    # A token's name is tiny.
    response = httpx.post(f"{web_url}/api/v1/tokens", json={"name": "n" * 100_000}, headers=headers, timeout=30)
    assert response.status_code == 413 and response.json()["code"] == "PAYLOAD_TOO_LARGE"
    assert not Generation.objects.exists()


# ---------- 5. /api/v1/health from what the web last heard ----------


class Listener(socketserver.ThreadingTCPServer):
    """A tiny server on a free port posing as an engine: it counts the connections it gets and
    either answers /health as a warm engine does, or (`hang`) never answers at all."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, *, hang: bool = False) -> None:
        self.hang, self.hits, self.stopping = hang, 0, threading.Event()
        self._count = threading.Lock()
        super().__init__(("127.0.0.1", 0), _ListenerHandler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()


class _ListenerHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        with self.server._count:
            self.server.hits += 1
        if self.server.hang:
            self.server.stopping.wait()
            return
        self.request.recv(65536)
        body = json.dumps({"status": "ok", "warm": True, "requests": 0}).encode()
        self.request.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
        )


def test_health_answers_from_the_pools_state_with_one_poll_for_everyone(django_db_setup):
    answering, hanging = Listener(), Listener(hang=True)
    down = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    try:
        urls = ",".join([answering.url, down, hanging.url])
        with private_stack(answering.url, workers=0, extra_env={"ENGINE_URLS": urls}) as (web_url, _):
            answered_before, hung_before = answering.hits, hanging.hits
            started = time.monotonic()
            with httpx.Client(timeout=60) as client:

                def ask(_: int) -> httpx.Response:
                    return client.get(f"{web_url}/api/v1/health")

                with ThreadPoolExecutor(max_workers=16) as pool:
                    answers = list(pool.map(ask, range(48)))
            elapsed = time.monotonic() - started
    finally:
        answering.close()
        hanging.close()
    for answer in answers:
        assert answer.status_code == 200
        engine = answer.json()["data"]["engine"]
        assert engine == {"status": "ok", "warm": True, "engines": 1, "configured": 3}
    # One background poll serves every request, at most once a second (and no faster than the
    # hung engine's timeout lets it). Before: each request asked each engine itself, and waited
    # for the hung one every time.
    assert answering.hits - answered_before <= 2 + elapsed / 1.0, (answering.hits - answered_before, elapsed)
    assert hanging.hits - hung_before <= 2 + elapsed / HEALTH_TIMEOUT_SECONDS, (hanging.hits - hung_before, elapsed)


# ---------- 6. the suite never reaches the developer's stack ----------


def _developer_env(**developer: str) -> dict[str, str]:
    """The shell of a developer running `make run`: their services exported, no test run's marks."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("OUTEAI_TEST")
        and name not in {"TEST_DATABASE_NAME", "CELERY_QUEUE", "CHANNELS_PREFIX", "REDIS_KEY_PREFIX"}
    }
    return env | {"DJANGO_SETTINGS_MODULE": "config.settings.test"} | developer


def test_the_test_settings_take_no_service_from_the_developers_shell():
    developer = {
        "ENGINE_URL": "http://127.0.0.1:8001",
        "ENGINE_URLS": "http://127.0.0.1:8001,http://127.0.0.1:8002",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/outeai_developer",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "CELERY_QUEUE": "outeai",
        "REDIS_KEY_PREFIX": "outeai",
    }
    script = (
        "import json; from django.conf import settings as s; print(json.dumps({'engines': s.ENGINE_URLS, "
        "'database': s.DATABASES['default']['NAME'], 'redis': s.REDIS_URL, 'queue': s.CELERY_TASK_DEFAULT_QUEUE, "
        "'prefix': s.REDIS_KEY_PREFIX}))"
    )
    run = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        env=_developer_env(**developer),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    seen = json.loads(run.stdout.strip().splitlines()[-1])
    assert not set(seen["engines"]) & {"http://127.0.0.1:8001", "http://127.0.0.1:8002"}, seen
    assert seen["database"] != "outeai_developer" and seen["redis"] != developer["REDIS_URL"], seen
    assert seen["queue"] != "outeai" and seen["prefix"] != "outeai", seen
    # A process of a test stack keeps what the tests give it.
    run = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {script}"],
        env=stack_env(ENGINE_URL="http://127.0.0.1:4321", CELERY_QUEUE="own-queue"),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    kept = json.loads(run.stdout.strip().splitlines()[-1])
    assert kept["engines"] == ["http://127.0.0.1:4321"] and kept["queue"] == "own-queue", kept


def test_a_run_beside_the_developers_engine_never_reaches_it():
    """The test the issue names, run by pytest in a shell where `make run` exported ENGINE_URL: the
    "engine outage" it makes must be its own, not the developer's engine answering."""
    developers_engine = Listener()
    try:
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                "tests/test_generation_stack.py::test_engine_outage_fails_the_generation_with_a_plain_reason",
            ],
            env=_developer_env(ENGINE_URL=developers_engine.url),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        developers_engine.close()
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert developers_engine.hits == 0, "the test reached the developer's engine"
