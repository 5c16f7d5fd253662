"""The engine against the floor (issue 18): Piper in this process (bench/floor.py) and one or more
engines, interleaved run by run (each goes first in turn), on bench.stack's row-2 text and SHORT.

    python -m bench.engine_floor                        # starts an engine of this tree
    python -m bench.engine_floor --url http://127.0.0.1:8001 --url http://127.0.0.1:8002 --runs 30

An engine is asked as the worker asks it (the same ``max_seconds``; ``--whole`` adds the worker's
``whole`` for a whole-file delivery). Printed per text: the p50 of the first audio and of the
whole take, and each engine's ratio to Piper's (the first chunk as a difference).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from dataclasses import dataclass

from bench.floor import PiperFloor
from bench.stack import SHORT, TEN_SECONDS
from billing.pricing import speech_seconds_max
from engine.client import Audio, Done, EngineClient
from harness import processes

VOICE = "EN-MALE-1-NEUTRAL"
TEXTS = {"row 2 (12 s)": TEN_SECONDS, "SHORT": SHORT}


@dataclass(frozen=True)
class Take:
    first: float  # s to the first audio
    total: float  # s to the end
    audio: float  # s of audio


def engine_take(client: EngineClient, text: str, *, whole: bool) -> Take:
    t0 = time.perf_counter()
    first, audio = None, 0.0
    events = client.synthesize(text, VOICE, max_seconds=speech_seconds_max(text), whole=whole)
    for event in events:
        if isinstance(event, Audio) and first is None:
            first = time.perf_counter() - t0
        elif isinstance(event, Done):
            audio = event.seconds
    total = time.perf_counter() - t0
    return Take(first if first is not None else total, total, audio)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", action="append", default=[], help="an engine (repeat for several); default: start one")
    p.add_argument("--runs", type=int, default=20, help="takes of each text per contender")
    p.add_argument("--whole", action="store_true", help="ask as for a whole-file delivery (the worker's 'whole')")
    args = p.parse_args()

    own = None if args.url else processes.engine_start("bench-engine", ENGINE_LOG_LEVEL="warning")
    urls = args.url or [own.url]
    clients = {url: EngineClient(url, timeout=300) for url in urls}
    floor = PiperFloor()
    names = ["piper", *urls]
    takes: dict[tuple[str, str], list[Take]] = {(n, t): [] for n in names for t in TEXTS}
    try:
        for client in clients.values():  # warm: the model loaded, ONNX Runtime's first runs done
            for text in TEXTS.values():
                for _ in range(2):
                    engine_take(client, text, whole=args.whole)
        load = os.getloadavg()[0]
        for i in range(args.runs):
            for label, text in TEXTS.items():
                k = i % len(names)
                for name in names[k:] + names[:k]:
                    if name == "piper":
                        run = floor.synthesize(text)
                        takes[name, label].append(Take(run.first_chunk, run.total, run.audio))
                    else:
                        takes[name, label].append(engine_take(clients[name], text, whole=args.whole))
    finally:
        for client in clients.values():
            client.close()
        if own is not None:
            own.stop()

    print(
        f"\n{os.cpu_count()} CPUs, p50 of {args.runs}, interleaved; load {load:.2f} at the start, "
        f"{os.getloadavg()[0]:.2f} at the end; whole={args.whole}"
    )
    for label in TEXTS:
        base = takes["piper", label]
        f0 = statistics.median(t.first for t in base)
        w0 = statistics.median(t.total for t in base)
        print(f"\n{label}: Piper in-process first {f0 * 1000:.1f} ms, whole {w0 * 1000:.1f} ms")
        for url in urls:
            ts = takes[url, label]
            f = statistics.median(t.first for t in ts)
            w = statistics.median(t.total for t in ts)
            audio = statistics.median(t.audio for t in ts)
            print(
                f"  {url}: first {f * 1000:.1f} ms ({(f - f0) * 1000:+.1f} ms), whole {w * 1000:.1f} ms "
                f"(x{w / w0:.3f}), {audio:.2f} s of audio"
            )


if __name__ == "__main__":
    main()
