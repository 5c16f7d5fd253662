"""Memory of the engine, web and worker processes (issue 18): VmRSS, PSS and USS at each stage.

    .venv/bin/python -m bench.memory            # an engine of its own (~1 min)
    .venv/bin/python -m bench.memory --stack    # and web + worker as `make run` starts them (~2 min)

Each process is read from /proc/<pid>/status (VmRSS) and /proc/<pid>/smaps_rollup (PSS: shared
pages divided among the processes that map them; USS: the pages only this process maps, what
ending it gives back). A stage is read after its request has finished and the process has been
quiet for a moment (``SETTLE_SECONDS``):

- idle: started and answering, nothing asked yet;
- joe: one request to Piper's Joe (EN-MALE-1-NEUTRAL);
- kokoro: one to a Kokoro voice (EN-FEMALE-1-NEUTRAL) as well;
- clone: a reference clip encoded (Joe's calibration corpus built, WORLD analysis) and spoken
  with its WORLD profile (the Kokoro profile on an engine without Piper);
- verify: a verified take (pocketsphinx heard each chunk back).

A stage whose voice the engine does not host (``--engine-env ENGINE_BACKENDS=kokoro``) is left
out. The stages accumulate (a process that served all of these), as the engine of a running stack
does until its models go idle. With --stack the same stages go through the web's API (the web
relays, the worker asks the engine) and the web and each Celery process are read too: the
worker's parent and its prefork children, each against the per-process target.
"""

from __future__ import annotations

import argparse
import base64
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.proc import children

ENGINE_TARGET_MB = 300.0
PROCESS_TARGET_MB = 120.0  # the web and each worker process
SETTLE_SECONDS = 1.0
JOE, KOKORO = "EN-MALE-1-NEUTRAL", "EN-FEMALE-1-NEUTRAL"
TEXT = (
    "Hello, and welcome to the studio. The first words play while the rest is still being made, "
    "so a listener hears the voice almost at once."
)
CLONE_TEXT = "She bought fresh bread and a bottle of milk on the way home."
REFERENCE_TEXT = (
    "The old lighthouse keeper walked slowly along the rocky shore, watching the grey waves roll in. "
    "Every evening he climbed the narrow stairs to light the lamp."
)
REFERENCE_VOICE = "cmu_us_slt_arctic_hts"  # Festival's CMU ARCTIC slt (festvox-us-slt-hts)


@dataclass(frozen=True)
class Memory:
    rss_mb: float
    pss_mb: float
    uss_mb: float


def process_memory(pid: int) -> Memory:
    """VmRSS, PSS and USS of a process, in MB (10^6 bytes would flatter: MiB as the kernel counts)."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            fields[name] = int(parts[0])
    uss = (fields.get("Private_Clean", 0) + fields.get("Private_Dirty", 0)) / 1024
    return Memory(rss, fields.get("Pss", 0) / 1024, uss)


@dataclass
class Row:
    process: str
    stage: str
    memory: Memory
    target_mb: float

    @property
    def met(self) -> bool:
        return self.memory.rss_mb <= self.target_mb


def table(rows: list[Row]) -> str:
    lines = [
        "| process | after | VmRSS MiB | PSS MiB | USS MiB | target (VmRSS) | met |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        m = r.memory
        lines.append(
            f"| {r.process} | {r.stage} | {m.rss_mb:.0f} | {m.pss_mb:.0f} | {m.uss_mb:.0f} | "
            f"<= {r.target_mb:.0f} | {'yes' if r.met else 'NO'} |"
        )
    return "\n".join(lines)


def reference_clip() -> bytes:
    """5-10 s of a real speaker's voice (Festival's slt), as a user would upload."""
    from tests.audio_checks import festival_wav

    return festival_wav(REFERENCE_TEXT, REFERENCE_VOICE)


# --- the engine alone -----------------------------------------------------------------------------
def engine_stages(url: str) -> list[tuple[str, Callable[[], None]]]:
    from engine.client import Done, EngineClient

    client = EngineClient(url, timeout=300)

    def speak(voice: str | None, *, profile: dict | None = None, verify: bool = False, text: str = TEXT) -> None:
        done = [e for e in client.synthesize(text, voice, profile=profile, verify=verify) if isinstance(e, Done)]
        assert done and done[0].seconds > 1.0, f"no audio from {voice or 'the profile'}"

    hosted = {v["name"] for v in client.voices()}  # ENGINE_BACKENDS may host one backend only

    def clone() -> None:
        answer = client.encode_speaker(reference_clip())
        world = [p for p in answer["candidates"] if p.get("kind") == "world"]
        speak(None, profile=(world or [answer["profile"]])[0], text=CLONE_TEXT)

    stages: list[tuple[str, Callable[[], None]]] = [("idle", lambda: None)]
    if JOE in hosted:
        stages.append(("joe", lambda: speak(JOE)))
    if KOKORO in hosted:
        stages.append(("kokoro", lambda: speak(KOKORO)))
    verified = JOE if JOE in hosted else KOKORO
    return [*stages, ("clone", clone), ("verify", lambda: speak(verified, verify=True))]


def measure_engine(env: dict[str, str]) -> list[Row]:
    from harness import processes

    engine = processes.engine_start("bench-memory", **{"ENGINE_LOG_LEVEL": "warning", **env})
    rows: list[Row] = []
    try:
        for stage, run in engine_stages(engine.url):
            run()
            time.sleep(SETTLE_SECONDS)
            rows.append(Row("engine", stage, process_memory(engine.process.pid), ENGINE_TARGET_MB))
    finally:
        engine.stop()
    return rows


# --- the stack: web, worker, engine ---------------------------------------------------------------
def stack_stages(web_url: str, token: str) -> list[tuple[str, Callable[[], None]]]:
    from bench.stack import MODEL, builtin_voice_id

    web = httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {token}"}, timeout=300)

    def speak(voice_id: str, *, response_format: str = "wav", verify: bool = False, text: str = TEXT) -> None:
        body = {
            "text": text,
            "voice_id": voice_id,
            "model_name": MODEL,
            "response_format": response_format,
            "verify": verify,
        }
        response = web.post("/api/v1/tts_non_stream", json=body)
        assert response.status_code == 200, f"{response.status_code} {response.text[:200]}"
        assert len(response.content) > 10_000, "too little audio"

    def clone() -> None:
        audio = base64.b64encode(reference_clip()).decode()
        response = web.post("/api/v1/voice-clones", json={"speaker_name": "bench memory", "audio_base64": audio})
        assert response.status_code == 201, f"{response.status_code} {response.text[:200]}"
        speak(response.json()["data"]["voice_id"], text=CLONE_TEXT)

    return [
        ("idle", lambda: None),
        ("joe (wav)", lambda: speak(builtin_voice_id(JOE))),
        ("kokoro (mp3)", lambda: speak(builtin_voice_id(KOKORO), response_format="mp3")),
        ("clone", clone),
        ("verify", lambda: speak(builtin_voice_id(JOE), verify=True)),
    ]


def measure_stack() -> list[Row]:
    from bench.stack_setup import OwnStack

    own = OwnStack(database="sqlite")  # as `make run` starts it
    rows: list[Row] = []
    with own as stack:
        pids = stack.pids
        assert stack.main is not None
        for stage, run in stack_stages(stack.web_url, stack.main.token):
            run()
            time.sleep(SETTLE_SECONDS)
            rows.append(Row("engine", stage, process_memory(pids["engine"]), ENGINE_TARGET_MB))
            rows.append(Row("web", stage, process_memory(pids["web"]), PROCESS_TARGET_MB))
            rows.append(Row("worker (parent)", stage, process_memory(pids["worker"]), PROCESS_TARGET_MB))
            for i, child in enumerate(children(pids["worker"]), 1):
                rows.append(Row(f"worker child {i}", stage, process_memory(child), PROCESS_TARGET_MB))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", action="store_true", help="web and worker too, as `make run` starts them")
    parser.add_argument(
        "--engine-env", action="append", default=[], metavar="NAME=VALUE", help="for the engine alone (repeatable)"
    )
    args = parser.parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    env = dict(item.split("=", 1) for item in args.engine_env)
    rows = measure_stack() if args.stack else measure_engine(env)
    print(f"cores: {os.cpu_count()}; stages accumulate in one process each; settled {SETTLE_SECONDS:g} s")
    print(table(rows))


if __name__ == "__main__":
    main()
