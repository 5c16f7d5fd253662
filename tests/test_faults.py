"""Faults, caused on purpose in real processes of the stack: a worker killed mid-job, an engine
dying mid-stream, Redis restarted under everything. Each runs a stack of its own, so the suite's
shared processes are not disturbed."""

import os
import shutil
import signal
import subprocess
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from accounts.services import token_create
from billing.models import LedgerEntry
from billing.pricing import speech_cost
from billing.selectors import ledger_sum, wallet_for
from harness.processes import engine_start, free_port
from studio.models import Generation
from tests.audio_checks import transcribe, wav_info, word_error_rate
from tests.conftest import _stack_env, private_stack
from tests.waiting import wait_for

pytestmark = pytest.mark.stack

SENTENCES = [
    "We will meet at the station at noon and take the train to the city.",
    "Please call me back when you have a moment to talk about the plan.",
    "Good morning, I would like to order a cup of coffee and a piece of cake.",
]
TEXT = " ".join(SENTENCES * 6)
# A well-formed CSRF secret, sent as cookie and header, as a browser page would.
CSRF = "a" * 32


def children_talking_to(worker: subprocess.Popen, port: int) -> list[int]:
    """The worker's processes with a connection open to `port` (the pool process speaking on the
    engine; not the beat process beside it, which the sweep needs)."""
    found = subprocess.run(["pgrep", "-P", str(worker.pid)], capture_output=True, text=True).stdout.split()
    sockets = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port and fields[3] == "01":  # remote port, established
                sockets.add(f"socket:[{fields[9]}]")
    talking = []
    for pid in map(int, found):
        fds = Path(f"/proc/{pid}/fd")
        if any(str(fd.readlink()) in sockets for fd in fds.iterdir() if fd.is_symlink()):
            talking.append(pid)
    return talking


def test_a_worker_killed_mid_job_is_replaced_and_the_job_goes_on(transactional_db, engine_url, user, builtin_voices):
    _, secret = token_create(user=user, name="faults")
    with private_stack(engine_url) as (web_url, (worker,)):
        result = {}

        def ask() -> None:
            result["response"] = httpx.post(
                f"{web_url}/api/v1/tts_non_stream",
                json={"text": TEXT, "voice": "EN-MALE-1-NEUTRAL", "model": "outetts_1_pro", "verify": True},
                headers={"Authorization": f"Bearer {secret}"},
                timeout=300,
            )

        caller = threading.Thread(target=ask)
        caller.start()
        wait_for(lambda: Generation.objects.filter(chunk__gte=3).exists(), what="the job under way")
        generation = Generation.objects.get()
        assert generation.status == "running" and generation.chunk < generation.chunks
        # The pool process running the job dies at once; the worker starts another, and the job,
        # found without a heartbeat by the sweep, is queued again and taken again.
        speaking = children_talking_to(worker, int(engine_url.rsplit(":", 1)[1]))
        assert len(speaking) == 1
        os.kill(speaking[0], signal.SIGKILL)
        caller.join(timeout=300)

    response = result["response"]
    assert response.status_code == 200, response.text
    generation.refresh_from_db()
    assert generation.status == "done" and generation.attempts == 2
    # 18 sentences, a chunk each: a whole-file take says its first sentence whole (no first phrase),
    # on the engine the resumed job asked as on the first.
    assert generation.chunk == generation.chunks == 18
    # The checks of the chunks made before the kill were kept, and every chunk was checked once.
    assert [check["chunk"] for check in generation.verification["chunks"]] == list(range(1, 19))
    assert generation.verification["checked"] == 18
    assert response.headers["X-Verification"].startswith(generation.verification["status"])
    seconds = wav_info(response.content)[3]
    assert seconds == pytest.approx(generation.seconds, abs=0.01)
    heard = transcribe(response.content)
    assert word_error_rate(TEXT, heard) <= 0.35, "a chunk was lost or said twice: " + heard
    entries = LedgerEntry.objects.filter(kind="generation")
    assert [e.amount for e in entries] == [-generation.cost], "charged once"
    assert wallet_for(user).balance == ledger_sum(user) and wallet_for(user).held == 0


def test_an_engine_dying_mid_stream_cuts_the_stream_off_and_only_delivered_audio_is_charged(
    transactional_db, user, builtin_voices
):
    engine = engine_start("fault-engine")
    url = engine.url
    _, secret = token_create(user=user, name="faults")
    try:
        with private_stack(url) as (web_url, _):
            body = {"text": TEXT, "voice": "EN-MALE-1-NEUTRAL", "model": "outetts_1_pro"}
            headers = {"Authorization": f"Bearer {secret}"}
            with httpx.stream(
                "POST", f"{web_url}/api/v1/tts_stream", json=body, headers=headers, timeout=120
            ) as response:
                assert response.status_code == 200
                chunks = response.iter_bytes()
                received = next(chunks)
                engine.kill()
                # The stream ends, it does not hang; cut off, as a stream that failed (not a finished file).
                with pytest.raises(httpx.RemoteProtocolError):
                    for chunk in chunks:
                        received += chunk
    finally:
        engine.stop()
    generation = Generation.objects.get()
    assert generation.status == "failed" and generation.error_code == "TTS_PROVIDER_UNAVAILABLE"
    delivered = len(received) - 44
    assert 0 < delivered < generation.max_seconds * 48_000
    assert generation.cost == speech_cost(delivered), "charged for what was delivered, no more"
    assert wallet_for(user).balance == 1_000_000 - generation.cost == ledger_sum(user)
    assert wallet_for(user).held == 0


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")
def test_redis_restarted_under_the_stack_everything_recovers(transactional_db, engine_url, user, builtin_voices):
    """A Redis of this test's own: the web, the worker and the page's websocket outlive its restart."""
    import asyncio

    import websockets
    from django.test import Client

    from studio.services import session_create

    redis_port = free_port()
    redis_cmd = ["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    _, secret = token_create(user=user, name="faults")
    session = session_create(owner=user)
    page = Client()
    page.force_login(user)
    cookie = f"sessionid={page.cookies['sessionid'].value}"
    body = {"text": SENTENCES[0], "voice": "EN-MALE-1-NEUTRAL", "model": "outetts_1_pro"}
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        with private_stack(engine_url, extra_env={"REDIS_URL": redis_url}) as (web_url, _):
            assert (
                httpx.post(f"{web_url}/api/v1/tts_non_stream", json=body, headers=headers, timeout=120).status_code
                == 200
            )

            redis.send_signal(signal.SIGTERM)
            redis.wait(timeout=10)
            down = httpx.post(f"{web_url}/api/v1/tts_non_stream", json=body, headers=headers, timeout=120)
            assert down.status_code >= 500 and down.json()["success"] is False, "a clean error while Redis is away"
            redis = subprocess.Popen(redis_cmd, stdout=subprocess.DEVNULL)
            time.sleep(1.0)

            def generate() -> int:
                return httpx.post(
                    f"{web_url}/api/v1/tts_non_stream", json=body, headers=headers, timeout=120
                ).status_code

            wait_for(lambda: generate() == 200, timeout=90, what="generation after Redis came back")

            async def socket_hears_a_generation() -> str:
                ws_url = web_url.replace("http", "ws") + f"/ws/studio/sessions/{session.id}/"
                async with websockets.connect(
                    ws_url, additional_headers={"Cookie": cookie, "Origin": web_url}
                ) as socket:
                    made = await asyncio.to_thread(
                        httpx.post,
                        f"{web_url}/studio/sessions/{session.id}/generations",
                        json={"text": "Hello again.", "voice_id": str(builtin_voices["EN-MALE-1-NEUTRAL"].id)},
                        headers={"Cookie": f"{cookie}; csrftoken={CSRF}", "X-CSRFToken": CSRF, "Origin": web_url},
                    )
                    assert made.status_code == 201, made.text
                    while True:
                        event = await asyncio.wait_for(socket.recv(), timeout=60)
                        if '"status": "done"' in event:
                            return event

            assert '"status": "done"' in asyncio.run(socket_hears_a_generation())
    finally:
        redis.terminate()
        redis.wait(timeout=10)


PG_BIN = "/usr/lib/postgresql/15/bin"


@contextmanager
def private_postgres():
    """A PostgreSQL cluster of this test's own, which it may stop and start at will."""
    import os
    import tempfile

    folder = tempfile.mkdtemp(prefix="outeai-pg-")
    shutil.chown(folder, "postgres")
    port = free_port()
    as_postgres = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_postgres, f"{PG_BIN}/initdb", "-D", folder, "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"

    def pg_ctl(*args: str) -> None:
        # The server's output goes to a file: a pipe held open by it would never end the command.
        subprocess.run(
            [*as_postgres, f"{PG_BIN}/pg_ctl", "-D", folder, "-l", f"{folder}/server.log", "-w", *args],
            check=True,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )

    pg_ctl("-o", options, "start")
    subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "CREATE DATABASE outeai"],
        check=True,
        capture_output=True,
    )
    try:
        yield (
            f"postgres://postgres@127.0.0.1:{port}/outeai",
            lambda: pg_ctl("-m", "fast", "stop"),
            lambda: pg_ctl("-o", options, "start"),
        )
    finally:
        subprocess.run(
            [*as_postgres, f"{PG_BIN}/pg_ctl", "-D", folder, "-m", "immediate", "stop"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=60,
        )
        shutil.rmtree(folder, ignore_errors=True)
        os.environ.pop("OUTEAI_PRIVATE_PG", None)


@pytest.mark.skipif(not shutil.which("runuser") or not shutil.os.path.exists(PG_BIN), reason="needs PostgreSQL 15")
def test_the_database_briefly_away_gives_clean_errors_then_recovers(engine_url):
    from harness.processes import BIN, ROOT

    with private_postgres() as (database_url, stop_database, start_database):
        env = _stack_env(engine_url) | {"DATABASE_URL": database_url}
        manage = [str(BIN / "python"), str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "--noinput"], env=env, check=True, capture_output=True)
        subprocess.run([*manage, "seed_voices"], env=env, check=True, capture_output=True)
        subprocess.run(
            [
                *manage,
                "shell",
                "-c",
                (
                    "from accounts.models import User; from billing.services import credits_signup_grant; "
                    "credits_signup_grant(User.objects.create_user("
                    "email='db@example.com', password='x pass phrase 42'))"
                ),
            ],
            env=env,
            check=True,
            capture_output=True,
        )
        made = subprocess.run(
            [*manage, "tokens", "create", "db@example.com"], env=env, check=True, capture_output=True, text=True
        )
        secret = made.stdout.strip().splitlines()[-1]
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"text": SENTENCES[0], "voice": "EN-MALE-1-NEUTRAL", "model": "outetts_1_pro"}
        with private_stack(engine_url, extra_env={"DATABASE_URL": database_url}) as (web_url, _):
            assert (
                httpx.post(f"{web_url}/api/v1/tts_non_stream", json=body, headers=headers, timeout=120).status_code
                == 200
            )

            stop_database()
            for answer in [
                httpx.get(f"{web_url}/api/v1/voices", headers=headers, timeout=30),
                httpx.post(f"{web_url}/api/v1/tts_stream", json=body, headers=headers, timeout=60),
            ]:
                assert answer.status_code >= 500
                assert answer.headers["content-type"].startswith("application/json"), answer.text[:200]
                assert answer.json()["success"] is False and "Traceback" not in answer.text

            start_database()

            def generates() -> bool:
                answer = httpx.post(f"{web_url}/api/v1/tts_non_stream", json=body, headers=headers, timeout=120)
                return answer.status_code == 200 and wav_info(answer.content)[3] > 1

            wait_for(generates, timeout=60, what="generation after the database came back")
