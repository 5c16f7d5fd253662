"""Benchmark the TTS engine: time to first audio and real-time factor.

    .venv/bin/python -m bench.engine                 # starts its own engines
    .venv/bin/python -m bench.engine --url http://127.0.0.1:8001 --runs 5

For a short and a long text and each voice it prints:

- TTFA: time from sending the request to receiving the first audio frame;
- RTF: wall-clock seconds / audio seconds for the whole request
  (lower is better; 0.25 means four times faster than real time);
- cold: the first request of a fresh engine process (includes loading the
  model; "warming_up" is sent first). Only measured when this script starts
  the engines (one fresh process per row), or when --url points at an engine
  that reports warm=false;
- warm: the median of --runs requests on a warm engine.

ENGINE_CONCURRENCY etc. are passed through to engines started here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from engine.client import Audio, Done, EngineClient
from harness import processes

SHORT = "Hello, and welcome to the studio."
LONG = (
    "The engine turns text into speech one sentence at a time, so the first words can play while the rest "
    "is still being generated. Each sentence is synthesised by a small neural model running on the CPU. "
    "The female voice is derived from the male one by analysing and resynthesising the audio with a vocoder, "
    "which moves the pitch and the formants toward a real female speaker. Long texts are split into chunks "
    "at sentence boundaries, and very long sentences are split again at commas or between words. Progress is "
    "reported before every chunk, and the stream ends with the number of seconds produced. If the caller "
    "goes away, the engine notices and stops working on the request."
)
TEXTS = {"short": SHORT, "long": LONG}


def engine_start() -> processes.EngineProcess:
    """A fresh engine process of the bench's own, logging warnings only (ENGINE_CONCURRENCY etc. pass through)."""
    return processes.engine_start("bench-engine", ENGINE_LOG_LEVEL="warning")


def measure(client: EngineClient, text: str, voice: str) -> tuple[float, float, float, bool]:
    """(time to first audio, wall seconds, audio seconds, warmed_up)."""
    t0 = time.perf_counter()
    ttfa = None
    warmed = False
    audio = 0.0
    for ev in client.synthesize(text, voice):
        if isinstance(ev, Audio):
            if ttfa is None:
                ttfa = time.perf_counter() - t0
        elif isinstance(ev, Done):
            audio = ev.seconds
        elif getattr(ev, "stage", None) == "warming_up":
            warmed = True
    wall = time.perf_counter() - t0
    return ttfa or wall, wall, audio, warmed


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="use a running engine instead of starting one")
    p.add_argument("--runs", type=int, default=3, help="warm runs per row (median)")
    p.add_argument("--no-cold", action="store_true", help="skip the fresh-process measurements")
    args = p.parse_args()

    own = None if args.url else engine_start()
    url = args.url or own.url
    client = EngineClient(url, timeout=300)
    voices = [v["name"] for v in client.voices()]
    rows = []
    try:
        for name, text in TEXTS.items():
            for voice in voices:
                cold = None
                if not args.no_cold:
                    if own is not None:
                        fresh = engine_start()
                        with EngineClient(fresh.url, timeout=300) as fc:
                            cold = measure(fc, text, voice)
                        fresh.stop()
                    elif client.health().get("warm") is False:
                        cold = measure(client, text, voice)
                measure(client, text, voice)  # make sure this engine is warm
                warm = [measure(client, text, voice) for _ in range(args.runs)]
                rows.append((name, voice, cold, warm))
    finally:
        client.close()
        if own is not None:
            own.stop()

    print(f"\nengine {url if args.url else '(started by bench)'}, {os.cpu_count()} CPUs, warm = median of {args.runs}")
    print("RTF = wall seconds / audio seconds (lower is better; < 1 is faster than real time)\n")
    head = (
        f"{'text':6} {'voice':20} {'audio s':>7} | {'cold TTFA':>9} {'cold RTF':>8} | {'warm TTFA':>9} {'warm RTF':>8}"
    )
    print(head)
    print("-" * len(head))
    for name, voice, cold, warm in rows:
        ttfa = statistics.median(w[0] for w in warm)
        rtf = statistics.median(w[1] / w[2] for w in warm if w[2] > 0)
        audio = statistics.median(w[2] for w in warm)
        c_ttfa = f"{cold[0]:9.3f}" if cold else f"{'n/a':>9}"
        c_rtf = f"{cold[1] / cold[2]:8.3f}" if cold and cold[2] else f"{'n/a':>8}"
        print(f"{name:6} {voice:20} {audio:7.2f} | {c_ttfa} {c_rtf} | {ttfa:9.3f} {rtf:8.3f}")


if __name__ == "__main__":
    main()
