"""Verified takes (engine/verify.py): how good takes score, and what checking costs in time.

    .venv/bin/python -m bench.verify --calibrate    # the word error of normal chunks, per voice
    .venv/bin/python -m bench.verify                # a take's time with and without verify

In-process, on the backends that speak each voice (engine/backends.py), with ENGINE_THREADS threads
(default 2), through the engine's own chunk step (``EngineService._take``, what ``/synthesize``
runs for each chunk).

--calibrate speaks every sentence of SENTENCES, and LONG, as the engine chunks them, hears each
chunk back (pocketsphinx, as the engine does) and prints the distribution of the match rule's
word error (``verify.match_error``) of these good takes (and the plain word error beside it), the
share of them a bar would fail, and, for contrast, two kinds of bad take: the transcript held
against another sentence's text (wrong words), and the first half of the audio only (a take cut
off).

--first-audio starts the engine service and times its first audio frame for Joe with verify off
and on, interleaved with Piper in-process's first chunk (bench/floor.py) on the same two sentences,
RUNS times each: what a verified request's listener waits before hearing anything.

Without either, for Joe (EN-MALE-1-NEUTRAL) and EN-FEMALE-1-NEUTRAL it speaks LONG (bench/engine.py's
long text) RUNS times with verify off and on, and prints the wall time of the whole take, the
audio seconds, the transcription time per chunk, the retakes, and the ratio verify on / off.
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time

import numpy as np

from bench.engine import LONG
from bench.voices import HELD_OUT
from engine import verify
from engine.app import EngineService, Settings, Synthesis
from engine.protocol import SAMPLE_RATE

VOICES = ("EN-MALE-1-NEUTRAL", "EN-FEMALE-1-NEUTRAL")

# Everyday sentences no voice was tuned on (HELD_OUT, bench/voices.py, is added to them).
SENTENCES = [
    *HELD_OUT,
    "Turn left at the second traffic light and park behind the bakery.",
    "The meeting has been moved to Thursday afternoon at three o'clock.",
    "My brother fixed the old bicycle and painted it bright green.",
    "We watched the sun go down from the top of the lighthouse.",
    "Could you send me the report before the end of the week?",
    "The museum is free for students on the first Friday of each month.",
    "A small dog followed us all the way home from the station.",
    "The soup needs more salt, but the bread is perfect.",
    "She has been learning to play the piano for nearly two years.",
    "The train to the coast leaves every hour from platform six.",
    "Thank you for calling; your order will arrive tomorrow morning.",
    "The garden looks lovely after all the rain we had in April.",
    "He forgot his umbrella on the bus and got soaked on the way to work.",
    "Please remember to switch off the lights when you leave the office.",
    "The team scored twice in the last ten minutes and won the match.",
    "Our flight was delayed, so we had dinner at the airport.",
    "The river is too cold for swimming until the middle of June.",
    "I would like a cup of tea with milk and no sugar, please.",
    "The old castle on the hill is open to visitors every day.",
    "They planted a row of apple trees along the side of the field.",
    "The shop on the corner sells fresh fish and vegetables.",
    "Write your name at the top of the page and answer every question.",
    "The baby finally fell asleep after her evening bath.",
    "We need to buy a new battery for the kitchen clock.",
    "The price of the concert tickets went up again this year.",
    "After the storm, the workers repaired the roof of the school.",
    "Keep the receipt in case you need to return the jacket.",
    "The farmer drove his tractor slowly down the narrow lane.",
    "You can find the spare keys in the top drawer of the desk.",
    "The students built a small robot for the science fair.",
    "It took us four hours to drive to the mountains on Saturday.",
    "The waiter brought us a basket of warm bread and olive oil.",
    "Most of the houses on this street were built a century ago.",
    "She always reads the newspaper while she eats her breakfast.",
    "The nurse checked his temperature and gave him some medicine.",
    "When the bell rang, the pupils packed their bags and went home.",
]
BARS = (0.3, 0.4, 0.5, 0.6, 0.7)


def _service() -> EngineService:
    threads = int(os.environ.get("ENGINE_THREADS") or 2)
    settings = Settings(concurrency=1, idle_unload_seconds=3600, max_text_chars=20000, threads=threads)
    return EngineService(settings)


def _synthesis(service: EngineService, name: str, text: str, *, verify_on: bool) -> Synthesis:
    resolved = service.backends.resolve(name)
    return Synthesis(text, resolved.backend, resolved.voice, None, None, 0, None, verify_on)


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def calibrate(service: EngineService) -> None:
    never = threading.Event()
    texts = [*SENTENCES, LONG]
    print(f"{len(SENTENCES)} everyday sentences and LONG's chunks; each chunk heard back (pocketsphinx)\n")
    print("match rule: verify.match_error (the engine's); plain: verify.word_error (the tests')\n")
    for name in VOICES:
        resolved = service.backends.resolve(name)
        resolved.backend.load()
        rows = {"good (rule)": [], "good (plain)": [], "LONG's chunks (rule)": [], "another text": [], "first half": []}
        seconds, hear = 0.0, 0.0
        for k, text in enumerate(texts):
            for chunk in resolved.backend.prepare(text):
                take = EngineService._take(_synthesis(service, name, text, verify_on=False), chunk, never)
                t0 = time.perf_counter()
                transcript = verify.transcribe(take.audio, SAMPLE_RATE)
                hear += time.perf_counter() - t0
                seconds += take.audio.size / SAMPLE_RATE
                if text is LONG:
                    rows["LONG's chunks (rule)"].append(verify.match_error(chunk.text, transcript))
                    continue
                rows["good (rule)"].append(verify.match_error(chunk.text, transcript))
                rows["good (plain)"].append(verify.word_error(chunk.text, transcript))
                rows["another text"].append(verify.match_error(SENTENCES[(k + 1) % len(SENTENCES)], transcript))
                half = take.audio[: take.audio.size // 2]
                rows["first half"].append(verify.match_error(chunk.text, verify.transcribe(half, SAMPLE_RATE)))
        chunks = len(rows["good (rule)"]) + len(rows["LONG's chunks (rule)"])
        print(f"## {name} ({resolved.backend.name}): {chunks} chunks, {seconds:.0f} s of audio")
        print("| takes | n | mean | median | p90 | p95 | max | " + " | ".join(f"> {b}" for b in BARS) + " |")
        print("| --- " * (7 + len(BARS)) + "|")
        for label, values in rows.items():
            shares = " | ".join(f"{sum(v > b for v in values) / len(values):.0%}" for b in BARS)
            print(
                f"| {label} | {len(values)} | {statistics.mean(values):.3f} | {statistics.median(values):.3f} | "
                f"{_pct(values, 90):.3f} | {_pct(values, 95):.3f} | {max(values):.3f} | {shares} |"
            )
        print(f"transcription: {hear / chunks * 1000:.0f} ms a chunk, {hear / seconds:.3f} s per audio second\n")


def cost(service: EngineService, runs: int) -> None:
    never = threading.Event()
    print(f"LONG text ({len(LONG)} characters), {runs} runs each, median wall time of the whole take\n")
    print("| voice | chunks | audio | verify off | verify on | on / off | transcription a chunk | retakes |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in VOICES:
        resolved = service.backends.resolve(name)
        resolved.backend.load()
        chunks = resolved.backend.prepare(LONG)
        times = {False: [], True: []}
        audio, retakes, hear = 0.0, 0, []
        for _ in range(runs):
            for verify_on in (False, True):
                synthesis = _synthesis(service, name, LONG, verify_on=verify_on)
                t0 = time.perf_counter()
                takes = [EngineService._take(synthesis, chunk, never) for chunk in chunks]
                times[verify_on].append(time.perf_counter() - t0)
                if verify_on:
                    retakes += sum(t.respoken for t in takes)
                    audio = sum(t.audio.size for t in takes) / SAMPLE_RATE
                    for t in takes[:3]:  # the transcription alone, on the kept audio
                        t1 = time.perf_counter()
                        verify.transcribe(t.audio, SAMPLE_RATE)
                        hear.append(time.perf_counter() - t1)
        off, on = statistics.median(times[False]), statistics.median(times[True])
        print(
            f"| {name} | {len(chunks)} | {audio:.1f} s | {off:.2f} s | {on:.2f} s | {on / off:.2f} | "
            f"{statistics.median(hear) * 1000:.0f} ms | {retakes} in {runs * len(chunks)} chunks |",
            flush=True,
        )


FIRST_AUDIO_TEXT = (
    "We will meet at the station at noon and take the train to the city. Please call me back when you have a moment."
)


def first_audio(runs: int) -> None:
    from contextlib import closing

    from bench.floor import PiperFloor
    from engine.client import Audio, EngineClient
    from harness.processes import engine_running

    def engine_first(client: EngineClient, *, verify_on: bool) -> float:
        t0 = time.perf_counter()
        with closing(client.synthesize(FIRST_AUDIO_TEXT, "EN-MALE-1-NEUTRAL", verify=verify_on)) as events:
            for event in events:
                if isinstance(event, Audio):
                    return time.perf_counter() - t0
        raise RuntimeError("the engine sent no audio")

    floor = PiperFloor()
    labels = ("Piper in-process, first chunk", "engine, verify off", "engine, verify on")
    times: dict[str, list[float]] = {label: [] for label in labels}
    with engine_running("bench-verify") as engine, EngineClient(engine.url, timeout=120) as client:
        for k in range(runs + 2):  # the first two warm the model and the recogniser
            takes = {
                labels[0]: lambda: floor.synthesize(FIRST_AUDIO_TEXT).first_chunk,
                labels[1]: lambda: engine_first(client, verify_on=False),
                labels[2]: lambda: engine_first(client, verify_on=True),
            }
            for label in labels[k % 3 :] + labels[: k % 3]:  # each goes first in turn
                seconds = takes[label]()
                if k >= 2:
                    times[label].append(seconds)
    base = statistics.median(times[labels[0]])
    print(f"first audio of {len(FIRST_AUDIO_TEXT)} characters (two sentences), Joe, {runs} interleaved runs\n")
    print("| | p50 | min | max | over Piper's first chunk, p50 |")
    print("| --- | --- | --- | --- | --- |")
    for label, values in times.items():
        p50 = statistics.median(values)
        print(
            f"| {label} | {p50 * 1000:.1f} ms | {min(values) * 1000:.1f} ms | {max(values) * 1000:.1f} ms | "
            f"{(p50 - base) * 1000:+.1f} ms |"
        )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--calibrate", action="store_true", help="the word error of good and bad takes")
    p.add_argument("--first-audio", action="store_true", help="a verified take's first audio, against Piper's")
    p.add_argument("--runs", type=int, default=3)
    args = p.parse_args()
    if args.first_audio:
        first_audio(max(args.runs, 10))
        return
    service = _service()
    if args.calibrate:
        calibrate(service)
    else:
        cost(service, args.runs)


if __name__ == "__main__":
    main()
