"""Row 6 at the engine alone: a newcomer's first audio, idle and beside one account's flood.

    .venv/bin/python -m bench.engine_fairness --root before=/tmp/main-copy --root after=.  [--rounds 20]

Each tree's engine (`python -m engine`, `ENGINE_BACKENDS=piper`, default places) is started side by
side; each round, for each engine in turn (alternating which goes first): `account:2` asks for
`SHORT` alone, then again while `account:1` has two requests under way, sent back to back (the
worker's share of one account). Prints per engine the newcomer's TTFB p50 idle and flooded, their
ratio, and a flood request's whole time p50 (what pre-empting costs the flood).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

from engine.protocol import AUDIO, FrameDecoder

SHORT = "Hello, and welcome to the studio. The first words play while the rest is still being made."
VOICE = "EN-MALE-1-NEUTRAL"
FLOOD_REQUESTS = 2  # one account's share at the worker (GENERATION_ACCOUNT_CONCURRENCY)


def engine_start(root: Path, port: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": f"{root}:{root / 'sdk' / 'src'}", "ENGINE_BACKENDS": "piper"}
    command = [sys.executable, "-m", "engine", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(command, cwd=root, env=env)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
        except httpx.HTTPError:
            time.sleep(0.2)
        else:
            return process
    process.terminate()
    raise SystemExit(f"the engine of {root} did not start")


async def timed(client: httpx.AsyncClient, tenant: str) -> tuple[float, float]:
    """(first audio, whole) in seconds."""
    t0, decoder, first = time.perf_counter(), FrameDecoder(), None
    body = {"text": SHORT, "voice": VOICE, "tenant": tenant}
    async with client.stream("POST", "/synthesize", json=body) as response:
        async for data in response.aiter_raw():
            for frame in decoder.feed(data):
                if frame.type == AUDIO and first is None:
                    first = time.perf_counter() - t0
    assert first is not None, "no audio"
    return first, time.perf_counter() - t0


async def flooded(client: httpx.AsyncClient, wholes: list[float]) -> float:
    stop = False

    async def flood() -> None:
        while not stop:
            wholes.append((await timed(client, "account:1"))[1])

    tasks = [asyncio.create_task(flood()) for _ in range(FLOOD_REQUESTS)]
    await asyncio.sleep(0.5 + random.random() * 0.3)  # somewhere in the flood's chunks
    first = (await timed(client, "account:2"))[0]
    stop = True
    await asyncio.gather(*tasks)
    return first


async def measure(urls: dict[str, str], rounds: int) -> None:
    clients = {name: httpx.AsyncClient(base_url=url, timeout=120) for name, url in urls.items()}
    results = {name: {"idle": [], "flooded": [], "whole": []} for name in urls}
    for client in clients.values():
        for _ in range(3):
            await timed(client, "warm-up")
    for i in range(rounds):
        for name in list(urls) if i % 2 == 0 else list(reversed(urls)):
            result = results[name]
            result["idle"].append((await timed(clients[name], "account:2"))[0])
            result["flooded"].append(await flooded(clients[name], result["whole"]))
            await asyncio.sleep(0.2)
    for client in clients.values():
        await client.aclose()
    for name, r in results.items():
        idle, flood = statistics.median(r["idle"]), statistics.median(r["flooded"])
        print(
            f"{name}: newcomer's TTFB idle p50 {idle * 1e3:.1f} ms, flooded p50 {flood * 1e3:.1f} ms "
            f"(max {max(r['flooded']) * 1e3:.1f}), x{flood / idle:.2f}; a flood request whole p50 "
            f"{statistics.median(r['whole']) * 1e3:.1f} ms (n={len(r['whole'])}); {rounds} rounds"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", action="append", required=True, metavar="NAME=PATH", help="a tree to run")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--port", type=int, default=18711, help="the first engine's port (then +1, ...)")
    args = parser.parse_args()
    roots = dict(item.split("=", 1) for item in args.root)
    processes, urls = [], {}
    try:
        for n, (name, root) in enumerate(roots.items()):
            processes.append(engine_start(Path(root).resolve(), args.port + n))
            urls[name] = f"http://127.0.0.1:{args.port + n}"
        print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        asyncio.run(measure(urls, args.rounds))
        print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait()


if __name__ == "__main__":
    main()
