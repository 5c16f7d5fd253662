"""Benchmark the hosted stack against the engine it wraps (issue 8): what web + queue + relay add.

    .venv/bin/python -m bench.stack --start              # own engine, worker, web, database (~10 min)
    .venv/bin/python -m bench.stack --start --quick      # a smoke run (~3 min)
    .venv/bin/python -m bench.stack --url http://127.0.0.1:8000 --engine-url http://127.0.0.1:8001 \\
        --token oute_...                                 # a running stack (see bench/stack_setup.py)

It prints the machine, then one table, engine direct and through the stack side by side:

1. time to first audio byte: POST {engine}/synthesize (first `A` frame) against
   POST /api/v1/tts_stream (first PCM byte after the 44-byte WAV header), interleaved;
2. total time of a ~10-second text: engine direct against /api/v1/tts_non_stream;
3. concurrency 1, 2, 4, 8, 16: audio seconds delivered per wall second, and TTFB p50/p95;
4. websocket latency: an event published through the Channels layer as the worker publishes it
   (core.realtime.session_broadcast) until a connected Studio socket receives it;
5. the Studio page of a session with 500 generations: server time;
6. fairness: one account sends 50 requests at once; another account's single request's TTFB,
   against its TTFB on the idle stack.

Every row says whether its target (issue 8) is met. All times are wall-clock on this machine;
client and stack share its cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import platform
import resource
import statistics
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.floor import FloorRun, PiperFloor
from bench.proc import named_cpu_seconds, tree_cpu_seconds
from bench.stack_setup import OwnStack, RunningStack, StackUnderTest, stack_arguments
from billing.pricing import speech_seconds_max
from engine.protocol import AUDIO, BYTES_PER_SECOND, DONE, ERROR, FrameDecoder
from harness.processes import ROOT
from voices.builtin import BUILTIN_VOICE_NAMESPACE

WAV_HEADER = 44
MODEL = "outetts_1_pro"

# Item 1 and 6: a typical short request (two sentences: the engine starts on the first).
SHORT = "Hello, and welcome to the studio. The first words play while the rest is still being made."
# Item 3: a few seconds of audio per request.
MEDIUM = (
    "The engine turns text into speech one sentence at a time. "
    "Each sentence is synthesised by a small neural model on the CPU. "
    "The first words can play while the rest is still being generated."
)
# Item 2: about ten seconds of audio.
TEN_SECONDS = (
    "Long texts are split into chunks at sentence boundaries, and very long sentences are split again "
    "at commas or between words. Progress is reported before every chunk, and the stream ends with the "
    "number of seconds produced."
)

TARGET_TTFB_ADDED = 0.025  # s, p50
TARGET_NON_STREAM_RATIO = 1.05
TARGET_THROUGHPUT_RATIO = 0.9
TARGET_WS_P50 = 0.020
TARGET_PAGE_P50 = 0.100
TARGET_FAIRNESS_RATIO = 2.0
# Issue 18: over the floor, Piper in-process on the same text (bench/floor.py).
TARGET_ENGINE_FIRST_OVER_FLOOR = 0.005  # s, p50
TARGET_STACK_FIRST_OVER_FLOOR = 0.010
TARGET_ENGINE_WHOLE_OVER_FLOOR = 1.03
TARGET_STACK_WHOLE_OVER_FLOOR = 1.02


# ---------- statistics and the table ----------


def p50(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def p95(values: list[float]) -> float:
    """Nearest rank."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:.1f} ms"


def ms_signed(seconds: float) -> str:
    """A difference: "+3.1 ms", or "-43.4 ms" where the stack comes first."""
    return ms(seconds) if math.isnan(seconds) or seconds < 0 else f"+{ms(seconds)}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT MET")


@dataclass
class Row:
    item: str
    what: str
    floor: str  # Piper in-process (bench/floor.py)
    engine: str
    stack: str
    delta: str
    target: str
    met: str


class Table:
    def __init__(self) -> None:
        self.rows: list[Row] = []
        self.notes: list[str] = []
        self.loads: list[str] = []  # the 1-minute load average as each item began

    def add(self, item: str, what: str, *cells: str, floor: str = "") -> None:
        row = Row(item, what, floor, *cells)
        self.rows.append(row)
        print("  " + " | ".join(vars(row).values()), flush=True)

    def render(self) -> str:
        head = Row(
            "#",
            "measure",
            "Piper in-process",
            "engine direct",
            "through the stack",
            "stack - engine / ratio",
            "target",
            "",
        )
        rows = [head, *self.rows]
        widths = [max(len(getattr(r, f)) for r in rows) for f in Row.__dataclass_fields__]

        def line(r: Row) -> str:
            cells = [getattr(r, f).ljust(w) for f, w in zip(Row.__dataclass_fields__, widths, strict=True)]
            return "| " + " | ".join(cells) + " |"

        sep = "| " + " | ".join("-" * w for w in widths) + " |"
        return "\n".join([line(head), sep, *(line(r) for r in self.rows)])


# ---------- the machine ----------


def machine() -> dict:
    model = platform.processor() or "?"
    try:
        for text_line in Path("/proc/cpuinfo").read_text().splitlines():
            if text_line.startswith("model name"):
                model = text_line.split(":", 1)[1].strip()
                break
        mem_kb = next(
            int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
        )
        ram = f"{mem_kb / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration, ValueError):
        ram = "?"
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "ram": ram,
        "python": platform.python_version(),
        "kernel": platform.release(),
    }


def code_version() -> str:
    """The commit measured, and whether the working tree had changes on top of it."""
    import subprocess

    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout.splitlines()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (f" + uncommitted changes in {len(changed)} files" if changed else "")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def cpu_busy_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all cores), from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    except (OSError, ValueError):
        return math.nan
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def cpu_ours_seconds() -> float:
    """CPU seconds of this process and of the children it has waited for (the stack it started,
    once stopped, with their own children)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


# ---------- one request ----------


@dataclass
class Run:
    ttfb: float | None  # to the first audio byte
    total: float  # to the end of the body
    audio: float  # audio seconds received
    status: int
    error: str = ""
    sent_at: float = 0.0  # wall clock (time.time()) when the request was sent

    @property
    def ok(self) -> bool:
        return self.status == 200 and not self.error and self.ttfb is not None


def builtin_voice_id(name: str) -> str:
    import uuid

    return str(uuid.uuid5(BUILTIN_VOICE_NAMESPACE, name))


class Caller:
    """The two ways of asking for speech: the engine itself and the stack's API."""

    def __init__(self, stack: StackUnderTest, voice: str, *, connections: int = 128) -> None:
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        timeout = httpx.Timeout(180.0, connect=10.0)
        self.voice = voice
        self.voice_id = builtin_voice_id(voice)
        self.engine = httpx.AsyncClient(base_url=stack.engine_url, limits=limits, timeout=timeout)
        self.webs = {}
        self.stack = stack
        self._limits, self._timeout = limits, timeout
        self.floor: PiperFloor | None = None  # loaded on first use

    def web(self, token: str) -> httpx.AsyncClient:
        if token not in self.webs:
            self.webs[token] = httpx.AsyncClient(
                base_url=self.stack.web_url,
                headers={"Authorization": f"Bearer {token}"},
                limits=self._limits,
                timeout=self._timeout,
            )
        return self.webs[token]

    async def piper(self, text: str) -> FloorRun:
        """The floor: Piper in this process (in a thread, so the loop stays free)."""
        if self.floor is None:
            self.floor = await asyncio.to_thread(PiperFloor)
        return await asyncio.to_thread(self.floor.synthesize, text)

    async def aclose(self) -> None:
        await self.engine.aclose()
        for client in self.webs.values():
            await client.aclose()

    async def engine_synthesize(self, text: str, *, whole: bool = False) -> Run:
        """As the worker asks (with the same max_seconds, and `whole` for a take delivered whole, as
        tts_non_stream's); the first `A` frame is the first byte."""
        body = {"text": text, "voice": self.voice, "max_seconds": speech_seconds_max(text)}
        if whole:
            body["whole"] = True
        t0 = time.perf_counter()
        ttfb, pcm, error = None, 0, ""
        decoder = FrameDecoder()
        async with self.engine.stream("POST", "/synthesize", json=body) as response:
            if response.status_code != 200:
                await response.aread()
                return Run(None, time.perf_counter() - t0, 0.0, response.status_code, response.text[:200])
            async for data in response.aiter_raw():
                for frame in decoder.feed(data):
                    if frame.type == AUDIO:
                        if ttfb is None:
                            ttfb = time.perf_counter() - t0
                        pcm += len(frame.payload)
                    elif frame.type == ERROR:
                        error = frame.payload.decode(errors="replace")[:200]
                    elif frame.type == DONE:
                        pass
        return Run(ttfb, time.perf_counter() - t0, pcm / BYTES_PER_SECOND, 200, error)

    def _speech(self, text: str) -> dict:
        return {"text": text, "voice_id": self.voice_id, "model_name": MODEL}

    async def tts_stream(self, token: str, text: str) -> Run:
        sent_at, t0 = time.time(), time.perf_counter()
        ttfb, received = None, 0
        async with self.web(token).stream("POST", "/api/v1/tts_stream", json=self._speech(text)) as response:
            if response.status_code != 200:
                await response.aread()
                return Run(None, time.perf_counter() - t0, 0.0, response.status_code, response.text[:200])
            async for data in response.aiter_raw():
                received += len(data)
                if ttfb is None and received > WAV_HEADER:
                    ttfb = time.perf_counter() - t0
        return Run(
            ttfb, time.perf_counter() - t0, max(0, received - WAV_HEADER) / BYTES_PER_SECOND, 200, sent_at=sent_at
        )

    async def tts_non_stream(self, token: str, text: str) -> Run:
        sent_at, t0 = time.time(), time.perf_counter()
        response = await self.web(token).post("/api/v1/tts_non_stream", json=self._speech(text))
        total = time.perf_counter() - t0
        if response.status_code != 200:
            return Run(None, total, 0.0, response.status_code, response.text[:200])
        return Run(total, total, (len(response.content) - WAV_HEADER) / BYTES_PER_SECOND, 200, sent_at=sent_at)


def _rotated(kinds: tuple[str, ...], i: int) -> tuple[str, ...]:
    """The i-th run's order: each kind goes first in turn."""
    k = i % len(kinds)
    return kinds[k:] + kinds[:k]


def failures(runs: list[Run]) -> str:
    bad = [r for r in runs if not r.ok]
    if not bad:
        return ""
    return f" ({len(bad)} failed: {bad[0].status} {bad[0].error[:80]})"


# ---------- 1. time to first byte ----------


STREAM_BREAKDOWN = {
    "web": "request sent -> generation stored (web: HTTP, auth, checks, INSERT)",
    "queue": "stored -> worker started it (hold, commit, dispatch, worker's lock)",
    "to_engine": "worker started -> engine's first progress relayed",
    "engine": "first progress -> first audio relayed (engine synthesis of chunk 1)",
    "relay": "first audio relayed -> first byte at the client (Redis XREAD, web)",
}


async def _stack_timeline(stack: StackUnderTest, run: Run) -> dict | None:
    """Where the time of one tts_stream went, from the generation's timestamps (web, worker) and
    its relay stream's entry ids (Redis time, ms), all on this machine's clock."""
    from asgiref.sync import sync_to_async
    from django.conf import settings

    from core.redis import redis_client
    from studio.models import Generation

    def read() -> dict | None:
        row = (
            Generation.objects.filter(user=stack.main.user)
            .order_by("-created_at")
            .values_list("id", "created_at", "started_at")
            .first()
        )
        if row is None or row[2] is None:
            return None
        entries = redis_client().xrange(f"{settings.REDIS_KEY_PREFIX}:generation:{row[0]}:relay")
        at, last = {}, {}
        for entry_id, fields in entries:
            kind, when = fields[b"kind"].decode(), int(entry_id.split(b"-")[0]) / 1000
            at.setdefault(kind, when)
            last[kind] = when
        if "progress" not in at or "audio" not in at or "end" not in at:
            return None
        created, started, first_byte = row[1].timestamp(), row[2].timestamp(), run.sent_at + run.ttfb
        return {
            "web": created - run.sent_at,
            "queue": started - created,
            "to_engine": at["progress"] - started,
            "engine": at["audio"] - at["progress"],
            "relay": first_byte - at["audio"],
            # for whole requests (item 2)
            "stream": last["audio"] - started,
            "finish": at["end"] - last["audio"],
            "deliver": run.sent_at + run.total - at["end"],
        }

    return await sync_to_async(read)()


async def item_ttfb(caller: Caller, stack_under_test: StackUnderTest, runs: int, table: Table) -> dict:
    token = stack_under_test.main.token
    engine, stack, timelines = [], [], []
    floor: list[FloorRun] = []
    for i in range(runs):
        # Interleaved, and rotating which goes first, so a drift of the machine hits all three.
        for kind in _rotated(("f", "e", "s"), i):
            if kind == "f":
                floor.append(await caller.piper(SHORT))
            elif kind == "e":
                engine.append(await caller.engine_synthesize(SHORT))
            else:
                stack.append(await caller.tts_stream(token, SHORT))
        if stack_under_test.django_ok and stack[-1].ok:
            timeline = await _stack_timeline(stack_under_test, stack[-1])
            if timeline:
                timelines.append(timeline)
    e = [r.ttfb for r in engine if r.ok]
    s = [r.ttfb for r in stack if r.ok]
    f = [r.first_chunk for r in floor]
    added = p50(s) - p50(e)
    table.add(
        "1",
        f"TTFB p50, short text, n={runs} each" + failures(engine + stack),
        ms(p50(e)),
        ms(p50(s)),
        ms_signed(added),
        f"<= +{TARGET_TTFB_ADDED * 1000:.0f} ms",
        verdict(added <= TARGET_TTFB_ADDED if e and s else None),
        floor=ms(p50(f)),
    )
    table.add("1", "TTFB p95", ms(p95(e)), ms(p95(s)), ms_signed(p95(s) - p95(e)), "", "", floor=ms(p95(f)))
    over_engine, over_stack = p50(e) - p50(f), p50(s) - p50(f)
    table.add(
        "1",
        "first audio over Piper in-process's first chunk, p50 (issue 18)",
        ms_signed(over_engine),
        ms_signed(over_stack),
        "",
        f"engine <= +{ms(TARGET_ENGINE_FIRST_OVER_FLOOR)}, stack <= +{ms(TARGET_STACK_FIRST_OVER_FLOOR)}",
        verdict(over_engine <= TARGET_ENGINE_FIRST_OVER_FLOOR and over_stack <= TARGET_STACK_FIRST_OVER_FLOOR),
    )
    for key, label in STREAM_BREAKDOWN.items():
        values = [t[key] for t in timelines]
        if values:
            table.add("1", f"  stack TTFB, p50 of its part: {label}", "", ms(p50(values)), "", "", "")
    return {"floor": f, "engine": e, "stack": s, "timelines": timelines}


# ---------- 2. a ten-second text, whole ----------


WHOLE_BREAKDOWN = {
    "web+queue": "request sent -> worker started it (web, hold, commit, dispatch)",
    "stream": "worker started -> last audio relayed (engine + worker per chunk)",
    "finish": "last audio relayed -> end relayed (WAV stored, hold settled)",
    "deliver": "end relayed -> whole WAV at the client (web builds and sends it)",
}


async def item_total(caller: Caller, stack_under_test: StackUnderTest, runs: int, table: Table) -> dict:
    token = stack_under_test.main.token
    engine, stack, timelines = [], [], []
    floor: list[FloorRun] = []
    for i in range(runs):
        for kind in _rotated(("f", "e", "s"), i):
            if kind == "f":
                floor.append(await caller.piper(TEN_SECONDS))
            elif kind == "e":
                engine.append(await caller.engine_synthesize(TEN_SECONDS, whole=True))
            else:
                stack.append(await caller.tts_non_stream(token, TEN_SECONDS))
        if stack_under_test.django_ok and stack[-1].ok:
            timeline = await _stack_timeline(stack_under_test, stack[-1])
            if timeline:
                timeline["web+queue"] = timeline["web"] + timeline["queue"]
                timelines.append(timeline)
    e = [r.total for r in engine if r.ok]
    s = [r.total for r in stack if r.ok]
    f = [r.total for r in floor]
    audio = p50([r.audio for r in engine if r.ok])
    ratio = p50(s) / p50(e) if e and s else math.nan
    table.add(
        "2",
        f"total, {audio:.1f} s of audio, p50 of n={runs}" + failures(engine + stack),
        ms(p50(e)),
        ms(p50(s)),
        f"x{ratio:.2f} (+{ms(p50(s) - p50(e))})",
        f"<= x{TARGET_NON_STREAM_RATIO}",
        verdict(ratio <= TARGET_NON_STREAM_RATIO if e and s else None),
        floor=ms(p50(f)),
    )
    engine_ratio, stack_ratio = p50(e) / p50(f), p50(s) / p50(f)
    table.add(
        "2",
        "whole text over Piper in-process's, p50 (issue 18)",
        f"x{engine_ratio:.2f}",
        f"x{stack_ratio:.2f}",
        "",
        f"engine <= x{TARGET_ENGINE_WHOLE_OVER_FLOOR}, stack <= x{TARGET_STACK_WHOLE_OVER_FLOOR}",
        verdict(engine_ratio <= TARGET_ENGINE_WHOLE_OVER_FLOOR and stack_ratio <= TARGET_STACK_WHOLE_OVER_FLOOR),
    )
    for key, label in WHOLE_BREAKDOWN.items():
        values = [t[key] for t in timelines]
        if values:
            table.add("2", f"  stack total, p50 of its part: {label}", "", ms(p50(values)), "", "", "")
    return {"floor": f, "engine": e, "stack": s, "audio_seconds": audio, "timelines": timelines}


# ---------- 3. concurrency ----------


async def load_level(request: Callable[[], Awaitable[Run]], concurrency: int, count: int, seconds: float):
    """`concurrency` loops, each sending one request after another, until `count` requests were
    started or `seconds` passed; in-flight requests finish (with a hard limit)."""
    runs: list[Run] = []
    started = 0
    t0 = time.perf_counter()
    deadline = t0 + seconds

    async def loop() -> None:
        nonlocal started
        while started < count and time.perf_counter() < deadline:
            started += 1
            runs.append(await request())

    await asyncio.wait_for(asyncio.gather(*(loop() for _ in range(concurrency))), timeout=seconds + 180)
    return runs, time.perf_counter() - t0


# Row 3's CPU by process: the roles the bench started (their process trees) and the servers of
# the machine (by process name; another user of them counts too).
CPU_ROLES = ("engine", "web", "worker")
CPU_SERVERS = {"PostgreSQL": "postgres", "Redis": "redis-server"}


def cpu_by_process(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds used so far by each role's process tree and each server."""
    used = {role: tree_cpu_seconds(pids[role]) for role in CPU_ROLES if role in pids}
    return used | {label: named_cpu_seconds(name) for label, name in CPU_SERVERS.items()}


def cpu_cells(cpu: dict[str, float], audio: float) -> str:
    """CPU ms per audio second of each process, the engine first: where the stack's share goes."""
    per = {label: 1000 * seconds / audio for label, seconds in cpu.items()} if audio else {}
    return " + ".join(f"{label} {ms:.1f}" for label, ms in per.items())


async def item_concurrency(
    caller: Caller, stack: StackUnderTest, levels: list[int], per_level: int, seconds: float, rounds: int, table: Table
) -> dict:
    """At each level, engine and stack take turns (`rounds` each, alternating which goes first) so
    that a change in the machine's load during the level hits both. With a stack the bench started,
    each level also says how much CPU each process used per audio second, each way."""
    token = stack.main.token
    requests = {
        "engine": lambda: caller.engine_synthesize(MEDIUM),
        "stack": lambda: caller.tts_stream(token, MEDIUM),
    }
    results = {}
    for c in levels:
        count = math.ceil(max(per_level, 3 * c) / rounds)
        level = {
            kind: {"runs": [], "wall": 0.0, "cpu": dict.fromkeys(cpu_by_process(stack.pids), 0.0)} for kind in requests
        }
        for r in range(rounds):
            for kind in ("engine", "stack") if r % 2 == 0 else ("stack", "engine"):
                before = cpu_by_process(stack.pids)
                runs, wall = await load_level(requests[kind], c, count, seconds / rounds)
                after = cpu_by_process(stack.pids)
                level[kind]["runs"] += runs
                level[kind]["wall"] += wall
                for label in level[kind]["cpu"]:
                    level[kind]["cpu"][label] += after[label] - before[label]
                await asyncio.sleep(0.3)
        for data in level.values():
            good = [r for r in data["runs"] if r.ok]
            data["audio"] = sum(r.audio for r in good)
            data["throughput"] = data["audio"] / data["wall"]
            data["ttfb"] = [r.ttfb for r in good]
            data["n"] = len(data["runs"])
            data["failed"] = failures(data.pop("runs"))
        e, s = level["engine"], level["stack"]
        ratio = s["throughput"] / e["throughput"] if e["throughput"] else math.nan
        table.add(
            "3",
            f"c={c}: audio s per wall s, n={e['n']}/{s['n']}" + e["failed"] + s["failed"],
            f"{e['throughput']:.1f}",
            f"{s['throughput']:.1f}",
            f"x{ratio:.2f}",
            f">= x{TARGET_THROUGHPUT_RATIO}",
            verdict(ratio >= TARGET_THROUGHPUT_RATIO),
        )
        if stack.pids:
            spent = {kind: sum(level[kind]["cpu"].values()) / level[kind]["audio"] for kind in level}
            table.add(
                "3",
                f"c={c}: CPU ms per audio s, by process",
                cpu_cells(e["cpu"], e["audio"]),
                cpu_cells(s["cpu"], s["audio"]),
                f"x{spent['stack'] / spent['engine']:.2f} in all",
                "",
                "",
            )
        table.add(
            "3",
            f"c={c}: TTFB p50 / p95",
            f"{ms(p50(e['ttfb']))} / {ms(p95(e['ttfb']))}",
            f"{ms(p50(s['ttfb']))} / {ms(p95(s['ttfb']))}",
            f"{ms_signed(p50(s['ttfb']) - p50(e['ttfb']))} / {ms_signed(p95(s['ttfb']) - p95(e['ttfb']))}",
            "",
            "",
        )
        results[c] = level
    return results


# ---------- 4. websocket latency ----------


def login_cookie(user) -> str:
    """A signed-in session, as the browser has after logging in."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _event_like_the_workers(session_id: str, seq: int) -> dict:
    """A generation.update as the worker sends one per audio frame (state without peaks, plus the
    frame's new peaks: 0.5 s of audio at 50 peaks a second)."""
    return {
        "type": "generation.update",
        "generation": {
            "id": f"00000000-0000-0000-0000-{seq:012d}",
            "session_id": session_id,
            "text": SHORT,
            "voice_id": None,
            "voice_name": "EN-MALE-1-NEUTRAL",
            "status": "running",
            "stage": "generating",
            "chunk": 1,
            "chunks": 2,
            "seconds": round(seq * 0.5, 3),
            "error": "",
            "cost": 0,
            "cost_credits": "0.000",
            "created_at": "2025-01-01T00:00:00+00:00",
            "audio_url": None,
            "download_url": None,
        },
        "peaks": [0.123] * 25,
        "peaks_offset": seq * 25,
    }


async def item_websocket(stack: StackUnderTest, count: int, gap: float, table: Table) -> dict:
    import websockets
    from asgiref.sync import sync_to_async

    from core.realtime import session_broadcast
    from studio.services import session_create

    session = await sync_to_async(session_create)(owner=stack.main.user, title="bench websocket")
    stack.created.append(session)
    cookie = await sync_to_async(login_cookie)(stack.main.user)
    session_id = str(session.id)
    url = stack.web_url.replace("http", "ws", 1) + f"/ws/studio/sessions/{session_id}/"
    latencies: list[float] = []
    publish: list[float] = []
    lost = 0

    def publisher() -> None:
        # The worker's path: a synchronous caller, core.realtime.session_broadcast.
        for seq in range(count):
            event = _event_like_the_workers(session_id, seq)
            event["sent_at"] = t = time.perf_counter()
            session_broadcast(session_id, event)
            publish.append(time.perf_counter() - t)
            time.sleep(gap)

    headers = {"Cookie": f"sessionid={cookie}", "Origin": stack.web_url}
    async with websockets.connect(url, additional_headers=headers, open_timeout=20) as socket:
        thread = threading.Thread(target=publisher, daemon=True)
        thread.start()
        deadline = time.perf_counter() + count * (gap + 0.5) + 10
        while len(latencies) < count and time.perf_counter() < deadline:
            try:
                message = await asyncio.wait_for(socket.recv(), timeout=5)
            except TimeoutError:
                break
            now = time.perf_counter()
            event = json.loads(message)
            if "sent_at" in event:
                latencies.append(now - event["sent_at"])
        thread.join(timeout=30)
    lost = count - len(latencies)
    table.add(
        "4",
        f"websocket: publish -> client, n={count}" + (f" ({lost} lost)" if lost else ""),
        "",
        f"{ms(p50(latencies))} / {ms(p95(latencies))} (p50/p95)",
        f"publish call {ms(p50(publish))} p50",
        f"p50 <= {TARGET_WS_P50 * 1000:.0f} ms",
        verdict(p50(latencies) <= TARGET_WS_P50 if latencies else None),
    )
    return {"latency": latencies, "publish": publish, "lost": lost}


# ---------- 5. a session page with 500 generations ----------


def _session_with_generations(user, n: int):
    """n finished generations of ~8 s each (peaks at 50 a second, audio file named), straight
    into the database."""
    import random

    from studio.models import Generation
    from studio.services import session_create
    from voices.models import Voice

    voice = Voice.objects.filter(speaker_name="EN-MALE-1-NEUTRAL").first()
    session = session_create(owner=user, title="bench: 500 generations")
    rng = random.Random(8)
    generations = [
        Generation(
            user=user,
            session=session,
            source=Generation.Source.STUDIO,
            voice=voice,
            voice_name="EN-MALE-1-NEUTRAL",
            text=f"Generation {i}: {MEDIUM}",
            status=Generation.Status.DONE,
            seconds=8.0,
            max_seconds=30.0,
            cost=8000,
            audio=f"generations/{user.id}/{i}.wav",
            peaks=[round(rng.random(), 3) for _ in range(400)],
        )
        for i in range(n)
    ]
    Generation.objects.bulk_create(generations, batch_size=100)
    return session


async def item_page(stack: StackUnderTest, generations: int, fetches: int, table: Table) -> dict:
    from asgiref.sync import sync_to_async

    session = await sync_to_async(_session_with_generations)(stack.main.user, generations)
    stack.created.append(session)
    cookie = await sync_to_async(login_cookie)(stack.main.user)
    times, size, status = [], 0, 0
    async with httpx.AsyncClient(base_url=stack.web_url, cookies={"sessionid": cookie}, timeout=60) as client:
        path = f"/studio/sessions/{session.id}/"
        await client.get(path)  # warm
        for _ in range(fetches):
            t0 = time.perf_counter()
            response = await client.get(path)
            times.append(time.perf_counter() - t0)
            size, status = len(response.content), response.status_code
    ok = status == 200
    table.add(
        "5",
        f"Studio page, {generations} generations, n={fetches} ({size / 1024:.0f} KiB)"
        + ("" if ok else f" (status {status})"),
        "",
        f"{ms(p50(times))} / {ms(p95(times))} (p50/p95)",
        "",
        f"p50 < {TARGET_PAGE_P50 * 1000:.0f} ms",
        verdict(p50(times) < TARGET_PAGE_P50 if ok else False),
    )
    return {"times": times, "bytes": size, "status": status}


# ---------- 6. fairness ----------


async def _flood_queued(user, since: float, tasks: list[asyncio.Task], timeout: float) -> bool:
    """Waits until every request of the flood is stored as a generation or has been refused."""
    from datetime import UTC, datetime

    from asgiref.sync import sync_to_async

    from studio.models import Generation

    start = datetime.fromtimestamp(since, tz=UTC)
    query = sync_to_async(lambda: Generation.objects.filter(user=user, created_at__gte=start).count())
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        refused = sum(1 for t in tasks if t.done() and (t.exception() or not t.result().ok))
        if await query() + refused >= len(tasks):
            return True
        await asyncio.sleep(0.05)
    return False


async def item_fairness(caller: Caller, stack: StackUnderTest, flood: int, rounds: int, table: Table) -> dict:
    victim, flooder = stack.victim.token, stack.flood.token
    idle_runs = [await caller.tts_stream(victim, SHORT) for _ in range(5)]
    idle = [r.ttfb for r in idle_runs if r.ok]
    flooded, statuses, accept_times = [], [], []
    for _ in range(rounds):
        since, t0 = time.time(), time.perf_counter()
        tasks = [asyncio.create_task(caller.tts_stream(flooder, SHORT)) for _ in range(flood)]
        if not await _flood_queued(stack.flood.user, since - 1, tasks, timeout=30):
            table.notes.append("item 6: a flood was not all accepted within 30 s; its round is left out")
        else:
            accept_times.append(time.perf_counter() - t0)
            run = await caller.tts_stream(victim, SHORT)
            if run.ok:
                flooded.append(run.ttfb)
        done = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=600)
        statuses += [r.status if isinstance(r, Run) else type(r).__name__ for r in done]
        await asyncio.sleep(1)
    ratio = p50(flooded) / p50(idle) if idle and flooded else math.nan
    rejected = sum(1 for s in statuses if s != 200)
    if rejected:
        table.notes.append(f"item 6: flood answers {dict(Counter(statuses))} (see the web's log)")
    table.add(
        "6",
        f"fairness: other account's TTFB, idle vs {flood} queued by one account, p50 of {len(flooded)}"
        + (f" ({rejected} of the flood refused)" if rejected else ""),
        f"idle {ms(p50(idle))}",
        f"flooded {ms(p50(flooded))} (max {ms(max(flooded) if flooded else None)})",
        f"x{ratio:.1f}",
        f"<= x{TARGET_FAIRNESS_RATIO:.0f}",
        verdict(ratio <= TARGET_FAIRNESS_RATIO if idle and flooded else None),
    )
    return {"idle": idle, "flooded": flooded, "flood_statuses": statuses, "flood_accept_seconds": accept_times}


# ---------- the run ----------


def started(table: Table, item: str, what: str) -> None:
    print(f"{item}. {what} ... (load {load()})", flush=True)
    table.loads.append(f"{item}: {os.getloadavg()[0]:.2f}")


async def warm(caller: Caller, token: str) -> None:
    """Load the model, open the pools, and let the worker's and web's first requests pass."""
    for text in (SHORT, MEDIUM, TEN_SECONDS):
        await caller.engine_synthesize(text)
    for _ in range(3):
        run = await caller.tts_stream(token, SHORT)
        if not run.ok:
            raise SystemExit(f"the stack refused the warm-up request: {run.status} {run.error}")
    await caller.tts_non_stream(token, SHORT)


async def measure(stack: StackUnderTest, args: argparse.Namespace, table: Table) -> dict:
    quick = args.quick
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Django's LOGGING puts the root at INFO
    caller = Caller(stack, args.voice)
    results: dict = {}
    token = stack.main.token
    try:
        await warm(caller, token)
        if "1" in args.items:
            started(table, "1", "time to first audio byte")
            results["ttfb"] = await item_ttfb(caller, stack, 10 if quick else args.runs, table)
        if "2" in args.items:
            started(table, "2", "a ten-second text, whole")
            results["total"] = await item_total(caller, stack, 3 if quick else 10, table)
        if "3" in args.items:
            started(table, "3", "concurrency")
            results["concurrency"] = await item_concurrency(
                caller,
                stack,
                [1, 2, 4, 8, 16],
                per_level=6 if quick else 16,
                seconds=10 if quick else 40,
                rounds=1 if quick else 2,
                table=table,
            )
        need_django = [i for i in "456" if i in args.items]
        if need_django and not stack.django_ok:
            for item in need_django:
                table.add(item, "needs the stack's database and Redis", "", "", "", "", "n/a")
            table.notes.append(f"rows 4-6 skipped: {stack.django_error}")
            return results
        if "4" in args.items:
            started(table, "4", "websocket latency")
            results["websocket"] = await item_websocket(stack, 50 if quick else 200, 0.02, table)
        if "5" in args.items:
            started(table, "5", "Studio page with 500 generations")
            results["page"] = await item_page(stack, 500, 10 if quick else 30, table)
        if "6" in args.items:
            started(table, "6", "fairness")
            results["fairness"] = await item_fairness(caller, stack, 50, 1 if quick else 3, table)
    finally:
        await caller.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stack_arguments(parser)
    parser.add_argument("--quick", action="store_true", help="a smoke run: fewer repetitions (not for the record)")
    parser.add_argument("--runs", type=int, default=30, help="item 1: requests each way (at least 20)")
    parser.add_argument("--voice", default="EN-MALE-1-NEUTRAL", help="built-in voice for every request")
    parser.add_argument("--items", default="123456", help="which items to run, e.g. 145")
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    parser.add_argument(
        "--wait-idle",
        type=float,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for the 1-minute load average to fall under half the cores",
    )
    args = parser.parse_args()
    if args.start == bool(args.url):
        parser.error("give either --start or --url (with --engine-url and --token)")
    if args.url and not (args.engine_url and args.token):
        parser.error("--url needs --engine-url and --token")
    if not args.quick and args.runs < 20:
        parser.error("--runs must be at least 20 (or use --quick)")

    info = machine()
    cores = info["cores"] or 1
    waited = time.monotonic()
    while os.getloadavg()[0] > 0.5 * cores and time.monotonic() - waited < args.wait_idle:
        print(f"waiting for the machine to calm down: load {load()}", flush=True)
        time.sleep(15)
    load_start = load()
    code = code_version()
    began = time.perf_counter()
    busy_start, ours_start = cpu_busy_seconds(), cpu_ours_seconds()
    print(f"machine: {info['cores']} cores, {info['cpu']}, {info['ram']} RAM, Python {info['python']}")
    print(f"load average at start: {load_start}", flush=True)
    if os.getloadavg()[0] > 0.5 * cores:
        print("warning: the machine is already busy; numbers will be noisy (rerun when it is idle)")

    table = Table()
    context = OwnStack(database=args.database) if args.start else RunningStack(args.url, args.engine_url, args.token)
    with context as stack:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # Django's LOGGING puts the root at INFO
        engine_health = httpx.get(f"{stack.engine_url}/health", timeout=10).json()
        print(
            f"stack: web {stack.web_url}, engine {stack.engine_url} ({engine_health.get('engine')}, "
            f"concurrency {engine_health.get('concurrency')}), voice {args.voice}"
        )
        results = asyncio.run(measure(stack, args, table))
        notes = list(stack.notes)
    load_end = load()
    elapsed = time.perf_counter() - began
    busy = cpu_busy_seconds() - busy_start
    ours = cpu_ours_seconds() - ours_start

    print()
    print(
        f"machine: {info['cores']} cores, {info['cpu']}, {info['ram']} RAM; Python {info['python']}, "
        f"Linux {info['kernel']}"
    )
    print(f"load average (1/5/15 min): start {load_start}, end {load_end}; bench took {elapsed / 60:.1f} min")
    if args.start:
        print(
            f"CPU: the machine was busy {busy:.0f} core-s of {elapsed * (info['cores'] or 1):.0f}; the bench and the "
            f"stack it started used {ours:.0f}; everything else (PostgreSQL, Redis, other users) {busy - ours:.0f}"
        )
    print(f"code: {code}")
    print(
        f"engine: {engine_health.get('engine')}, concurrency {engine_health.get('concurrency')}; "
        f"voice {args.voice}; {'quick run' if args.quick else 'full run'}"
    )
    print(f"load average (1 min) as each item began: {', '.join(table.loads)}")
    for note in notes + table.notes:
        print(f"note: {note}")
    print()
    print(table.render())
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "machine": info,
            "code": code,
            "load_start": load_start,
            "load_end": load_end,
            "elapsed_seconds": elapsed,
            "cpu_busy_seconds": busy,
            "cpu_ours_seconds": ours,
            "args": {k: str(v) for k, v in vars(args).items() if k != "token"},
            "rows": [vars(r) for r in table.rows],
            "results": results,
        }
        args.json.write_text(json.dumps(payload, indent=1, default=str))


if __name__ == "__main__":
    main()
