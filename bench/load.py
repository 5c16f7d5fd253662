"""Load: N simulated users generating speech for M minutes, then the books are checked.

    .venv/bin/python -m bench.load --start --users 8 --minutes 3
    DATABASE_URL=postgres://... .venv/bin/python -m bench.load --url http://127.0.0.1:8000 --users 8 --minutes 3

With --start it starts its own stack as the tests do (the engine, a Celery worker and uvicorn) on a
fresh PostgreSQL database and Redis keys of its own, and drops the database at the end. With --url
it drives a stack already running; this process must see the same database (DATABASE_URL,
DJANGO_SETTINGS_MODULE) to make its accounts and tokens and to check the books.

Each user has an account of its own (credits granted through the ledger) and an API token, and
loops until the time is up or it has sent --max-requests: a short pause, then a text of a random
length to tts_non_stream (most), tts_stream (some, a few of them abandoned after the first audio,
which cancels the job) or the legacy /tts. Every request has a timeout.

Afterwards (once the queue has drained) the books, through the ORM:
- every generation of the load's accounts ended: done, failed, or cancelled (abandoned streams);
- every wallet's balance equals the sum of its ledger and nothing is held; every hold is settled
  at its generation's cost;
- the audio of every done generation is on storage, a WAV of the right length.
It prints a summary and exits 1 if anything is wrong.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import ExitStack
from dataclasses import dataclass, field

import httpx

from harness.processes import engine_command, free_port, running_process, stack_env, web_command, worker_command

TEXTS = [
    "Hello there.",
    "The quick brown fox jumps over the lazy dog.",
    "Please call Stella and ask her to bring these things with her from the store.",
    "We will meet at the station at noon, and then take the train to the city together.",
    "Numbers too: 42 apples, 7 pears and 1,250 grapes were counted on the 3rd of May.",
    (
        "A longer paragraph keeps the engine busy for a while. It has several sentences, each one spoken in "
        "turn, so the stream sends progress and audio more than once before it ends."
    ),
]
MODEL = "outetts_1_pro"
VOICES = ["EN-FEMALE-1-NEUTRAL", "EN-MALE-1-NEUTRAL"]


@dataclass
class Stats:
    statuses: Counter = field(default_factory=Counter)
    by_endpoint: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)
    audio_bytes: int = 0
    abandoned: int = 0
    errors: Counter = field(default_factory=Counter)


# ---------- the stack ----------


def _start_stack(stack: ExitStack, run: str) -> str:
    """A database, queue and keys of this run's own; the engine, a worker and the web. Returns the URL."""
    import psycopg

    admin_url = os.environ.get("LOAD_ADMIN_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    name = f"outeai_load_{run}"
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(admin_url, autocommit=True) as connection:
            connection.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                [name],
            )
            connection.execute(f'DROP DATABASE IF EXISTS "{name}"')

    stack.callback(drop)
    media = tempfile.mkdtemp(prefix="outeai-load-media-")
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": admin_url.rsplit("/", 1)[0] + f"/{name}",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/13"),
        "CHANNELS_PREFIX": f"outeai-load-{run}",
        "CELERY_QUEUE": f"outeai-load-{run}",
        "REDIS_KEY_PREFIX": f"outeai-load-{run}",
        "MEDIA_ROOT": media,
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    _django_setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_voices", verbosity=0)
    engine_port, web_port = free_port(), free_port()
    engine_url = f"http://127.0.0.1:{engine_port}"
    env["ENGINE_URL"] = engine_url
    full = stack_env(**env)
    stack.enter_context(
        running_process("engine", engine_command(engine_port), env=full, ready_url=f"{engine_url}/health")
    )
    stack.enter_context(
        running_process("worker", worker_command(env["CELERY_QUEUE"]), env=full, ready_log="ready.", timeout=90)
    )
    web_url = f"http://127.0.0.1:{web_port}"
    stack.enter_context(running_process("web", web_command(web_port), env=full, ready_url=f"{web_url}/api/v1/health"))
    return web_url


def _django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()


def _accounts(users: int, run: str) -> list[tuple[int, str]]:
    """An account per simulated user, with credits granted through the ledger, and a token."""
    from accounts.models import User
    from accounts.services import token_create
    from billing.services import credits_admin_change, credits_signup_grant

    made = []
    for index in range(users):
        user = User.objects.create_user(email=f"load-{run}-{index}@example.com", password=uuid.uuid4().hex)
        credits_signup_grant(user)
        credits_admin_change(user=user, amount=500_000_000, actor=None, reason="load test")
        made.append((user.id, token_create(user=user, name="load")[1]))
    return made


# ---------- the users ----------


async def _one_user(
    client: httpx.AsyncClient, secret: str, deadline: float, max_requests: int, stats: Stats, seed: int
) -> None:
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {secret}"}
    for _ in range(max_requests):
        if time.monotonic() >= deadline:
            return
        await asyncio.sleep(rng.uniform(0.2, 1.5))
        text, voice = rng.choice(TEXTS), rng.choice(VOICES)
        roll = rng.random()
        started = time.monotonic()
        try:
            if roll < 0.6:
                endpoint = "tts_non_stream"
                response = await client.post(
                    "/api/v1/tts_non_stream",
                    json={"text": text, "voice_id": voice, "model_name": MODEL},
                    headers=headers,
                )
                status, size = response.status_code, len(response.content)
            elif roll < 0.9:
                endpoint = "tts_stream"
                abandon = rng.random() < 0.15
                status, size = await _stream(client, headers, text, voice, abandon)
                if abandon:
                    stats.abandoned += 1
                    endpoint = "tts_stream (abandoned)"
            else:
                endpoint = "legacy tts"
                response = await client.post(
                    "/api/v1/tts", json={"token": secret, "text": text, "speaker": {"default": voice}}
                )
                status, size = response.status_code, len(response.content)
        except httpx.HTTPError as error:
            stats.errors[type(error).__name__] += 1
            stats.statuses["transport error"] += 1
            continue
        stats.statuses[status] += 1
        stats.by_endpoint[(endpoint, status)] += 1
        stats.latencies.append(time.monotonic() - started)
        if status == 200:
            stats.audio_bytes += size


async def _stream(client: httpx.AsyncClient, headers: dict, text: str, voice: str, abandon: bool) -> tuple[int, int]:
    body = {"text": text, "voice_id": voice, "model_name": MODEL}
    size = 0
    async with client.stream("POST", "/api/v1/tts_stream", json=body, headers=headers) as response:
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if abandon:
                break  # leaving the block closes the connection: the job is cancelled
        return response.status_code, size


async def _drive(url: str, secrets: list[str], minutes: float, max_requests: int, stats: Stats) -> float:
    deadline = time.monotonic() + minutes * 60
    limits = httpx.Limits(max_connections=len(secrets) * 2)
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=180, limits=limits) as client:
        await asyncio.gather(
            *(
                _one_user(client, secret, deadline, max_requests, stats, seed=index)
                for index, secret in enumerate(secrets)
            )
        )
    return time.monotonic() - started


# ---------- the books ----------


def _books(user_ids: list[int], drain_seconds: float) -> tuple[list[str], dict]:
    from django.db.models import Count, Sum

    from billing.models import Hold, LedgerEntry, Wallet
    from billing.selectors import ledger_sum
    from core.audio import BYTES_PER_SECOND
    from studio.models import Generation

    generations = Generation.objects.filter(user_id__in=user_ids)
    deadline = time.monotonic() + drain_seconds
    while generations.exclude(status__in=Generation.FINISHED).exists() and time.monotonic() < deadline:
        time.sleep(1)
    problems = []
    unfinished = list(generations.exclude(status__in=Generation.FINISHED).values_list("id", "status"))
    if unfinished:
        problems.append(f"{len(unfinished)} generations not ended after the drain: {unfinished[:5]}")
    for wallet in Wallet.objects.filter(user_id__in=user_ids):
        total = ledger_sum(wallet.user)
        if wallet.balance != total:
            problems.append(f"user {wallet.user_id}: balance {wallet.balance} != ledger {total}")
        if wallet.held:
            problems.append(f"user {wallet.user_id}: {wallet.held} still held")
    open_holds = Hold.objects.filter(user_id__in=user_ids, settled_at__isnull=True).count()
    if open_holds:
        problems.append(f"{open_holds} holds never settled")
    for generation in generations.select_related("hold"):
        hold = getattr(generation, "hold", None)
        if hold is None:
            problems.append(f"generation {generation.id} has no hold")
        elif hold.settled_at and hold.charged != generation.cost:
            problems.append(f"generation {generation.id}: hold charged {hold.charged}, cost {generation.cost}")
        if generation.status == Generation.Status.DONE:
            if not generation.audio or not generation.audio.storage.exists(generation.audio.name):
                problems.append(f"generation {generation.id} is done but its audio is not on storage")
                continue
            size = generation.audio.size
            expected = 44 + round(generation.seconds * BYTES_PER_SECOND)
            if generation.seconds <= 0 or abs(size - expected) > 4:
                problems.append(f"generation {generation.id}: WAV of {size} bytes for {generation.seconds:.2f} s")
    charged = -(
        LedgerEntry.objects.filter(user_id__in=user_ids, kind="generation").aggregate(s=Sum("amount"))["s"] or 0
    )
    costs = generations.aggregate(s=Sum("cost"))["s"] or 0
    if charged != costs:
        problems.append(f"ledger charged {charged} µcr for generations costing {costs}")
    summary = {
        "generations": dict(generations.values_list("status").annotate(n=Count("id")).order_by()),
        "by source": dict(generations.values_list("source").annotate(n=Count("id")).order_by()),
        "audio seconds": round(sum(generations.values_list("seconds", flat=True)), 1),
        "charged (credits)": charged / 1_000_000,
    }
    return problems, summary


# ---------- main ----------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running stack's web URL (this process must see its database)")
    where.add_argument("--start", action="store_true", help="start a stack of its own on a fresh database")
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--max-requests", type=int, default=200, help="per user, whatever the time")
    parser.add_argument("--drain-seconds", type=float, default=180.0, help="wait for the queue before the books")
    args = parser.parse_args()
    if not (1 <= args.users <= 200 and 0 < args.minutes <= 60):
        parser.error("keep it bounded: 1-200 users, at most 60 minutes")
    run = uuid.uuid4().hex[:8]
    with ExitStack() as stack:
        if args.start:
            url = _start_stack(stack, run)
        else:
            url = args.url.rstrip("/")
            _django_setup()
        accounts = _accounts(args.users, run)
        stats = Stats()
        print(f"load: {args.users} users for {args.minutes:g} min against {url} (run {run})", flush=True)
        seconds = asyncio.run(_drive(url, [secret for _, secret in accounts], args.minutes, args.max_requests, stats))
        problems, books = _books([user_id for user_id, _ in accounts], args.drain_seconds)
    requests = sum(stats.statuses.values())
    latencies = sorted(stats.latencies) or [0.0]
    print(f"held {seconds / 60:.1f} min: {requests} requests, {requests / max(seconds, 1):.2f}/s")
    print(f"  statuses: {dict(stats.statuses)}  transport errors: {dict(stats.errors)}")
    for (endpoint, status), count in sorted(stats.by_endpoint.items(), key=str):
        print(f"  {endpoint:24} {status}: {count}")
    print(
        f"  latency p50 {statistics.median(latencies):.2f} s, p95 {latencies[int(0.95 * (len(latencies) - 1))]:.2f} s,"
        f" max {latencies[-1]:.2f} s; abandoned streams {stats.abandoned}"
    )
    print(f"  books: {books}")
    server_errors = {status: n for status, n in stats.statuses.items() if isinstance(status, int) and status >= 500}
    if server_errors:
        problems.append(f"server errors: {server_errors}")
    if problems:
        print("PROBLEMS:\n  " + "\n  ".join(problems))
        return 1
    print("OK: every generation ended, every balance equals its ledger, no hold open, all audio on storage")
    return 0


if __name__ == "__main__":
    sys.exit(main())
