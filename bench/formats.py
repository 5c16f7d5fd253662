"""Time to first byte of POST /v1/audio/speech in each format beside WAV (issue 15): what encoding
on the fly adds. Target: at most 15 ms over WAV (p50).

    .venv/bin/python -m bench.formats --start            # own engine, worker, web, database (~5 min)
    .venv/bin/python -m bench.formats --start --runs 5   # a smoke run
    .venv/bin/python -m bench.formats --url http://127.0.0.1:8000 --engine-url http://127.0.0.1:8001 \\
        --token oute_...                                 # a running stack (bench/stack_setup.py)

One run, interleaved: each round asks for the same short text once in every format, in a fresh
order, so a slower engine moment falls on every format alike. It also times the encoder alone from
the first chunk to its first bytes (in this process), the part of the difference that is encoding.
"""

from __future__ import annotations

import argparse
import random
import time

import httpx

from bench.stack import SHORT, load, machine, ms, p50, p95, verdict
from bench.stack_setup import OwnStack, RunningStack, StackUnderTest, stack_arguments
from core.audio_formats import AUDIO_FORMATS, StreamEncoder
from engine.protocol import BYTES_PER_SECOND

TARGET_ADDED = 0.015  # s, p50 over WAV
FIRST_CHUNK_SECONDS = 2.0  # about the engine's first sentence of SHORT


def first_byte(client: httpx.Client, token: str, voice: str, response_format: str) -> float:
    body = {"model": "tts-1", "input": SHORT, "voice": voice, "response_format": response_format}
    started = time.perf_counter()
    with client.stream("POST", "/v1/audio/speech", json=body, headers={"Authorization": f"Bearer {token}"}) as response:
        response.raise_for_status()
        chunks = response.iter_bytes()
        took = next(time.perf_counter() - started for chunk in chunks if chunk)
        for _ in chunks:
            pass  # to the end, as a player would: the next request finds an idle engine
    return took


def encoder_first_bytes(name: str, repeats: int = 20) -> float:
    """The encoder's own time from a fresh request's first chunk to its first bytes (p50), fed as
    the streams feed it (StreamEncoder.pieces), on a loud sawtooth."""
    samples = int(FIRST_CHUNK_SECONDS * BYTES_PER_SECOND) // 2
    pcm = bytes((i * 37) % 256 for i in range(samples * 2))
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        encoder = StreamEncoder(AUDIO_FORMATS[name])
        for piece in encoder.pieces(pcm):
            if encoder.encode(piece):
                break
        times.append(time.perf_counter() - started)
    return p50(times)


def measure(stack: StackUnderTest, runs: int, voice: str) -> dict[str, list[float]]:
    assert stack.main is not None
    names = list(AUDIO_FORMATS)
    times: dict[str, list[float]] = {name: [] for name in names}
    with httpx.Client(base_url=stack.web_url, timeout=120) as client:
        for name in names:  # warm every path once (the engine's first request loads the voice)
            first_byte(client, stack.main.token, voice, name)
        for round_number in range(runs):
            random.shuffle(names)
            for name in names:
                times[name].append(first_byte(client, stack.main.token, voice, name))
            print(f"  round {round_number + 1}/{runs}: " + ", ".join(f"{n} {ms(times[n][-1])}" for n in names))
    return times


def render(times: dict[str, list[float]]) -> str:
    wav = p50(times["wav"])
    rows = [
        "| format | TTFB p50 | TTFB p95 | p50 - WAV | encoder to first bytes | target (≤ 15 ms over WAV) |",
        "| ------ | -------- | -------- | --------- | ---------------------- | ------------------------- |",
    ]
    for name in ["wav", *sorted(set(times) - {"wav"})]:
        added = p50(times[name]) - wav
        rows.append(
            f"| {name} | {ms(p50(times[name]))} | {ms(p95(times[name]))} | "
            f"{'—' if name == 'wav' else ms(added)} | {ms(encoder_first_bytes(name))} | "
            f"{'—' if name == 'wav' else verdict(added <= TARGET_ADDED)} |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    stack_arguments(parser)
    parser.add_argument("--runs", type=int, default=20, help="rounds (each asks once in every format)")
    parser.add_argument("--voice", default="alloy", help="the voice, an OpenAI name or ours")
    args = parser.parse_args()
    if args.start == bool(args.url):
        parser.error("give either --start or --url (with --engine-url and --token)")
    info = machine()
    print(f"machine: {info['cores']} cores, {info['cpu']}, {info['ram']} RAM, Python {info['python']}")
    print(f"load average at start: {load()}", flush=True)
    context = (
        OwnStack(database=args.database) if args.start else RunningStack(args.url, args.engine_url or "", args.token)
    )
    with context as stack:
        times = measure(stack, args.runs, args.voice)
    print()
    print(f"{args.runs} rounds, voice {args.voice}, text of {len(SHORT)} characters; load at end {load()}")
    print(render(times))


if __name__ == "__main__":
    main()
