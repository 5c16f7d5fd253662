"""Benchmark voice cloning as a user gets it: likeness, intelligibility, naturalness, creation time.

    .venv/bin/python -m bench.clone_similarity                          # starts its own engine
    .venv/bin/python -m bench.clone_similarity --url http://127.0.0.1:8001 --speakers slt,kal,ked
    .venv/bin/python -m bench.clone_similarity --fit-budgets 120,360    # also the slow Kokoro fits
    .venv/bin/python -m bench.clone_similarity --fit-budgets ""         # quick profiles only

For each reference speaker (Debian's Festival voices, built from recordings of real speakers, none
of them an engine voice) it makes a 5-10 s reference clip with festival's ``text2wave``, as a user
would upload it, encodes it with ``POST /speakers/encode`` and, for every way of making a clone:

- ``world``: the WORLD quick profile (a transform of Joe, engine/voice_fit.py);
- ``kokoro``: the Kokoro quick profile (a built-in's pack mix, pitch set by the F0 scale);
- ``fit Ns``: the Kokoro profile fitted by voices/fitting.py in a budget of N seconds, speaking
  through the engine as the product's fitter does;

has the clone say NEW_TEXT (sentences neither the reference, the fit's training nor the fit's
held-out choice used) and prints: ``sim``, Resemblyzer similarity to the reference; ``gain``, over
the nearest built-in voice (the most similar of them on the same sentences); ``WER``, pocketsphinx's
mean word error; ``MOS``, DNSMOS's overall MOS of the joined sentences (Joe's is the bar);
median F0; and the creation time (the encode call; for a fit, the encode call plus the fit). All
measures are the product's own (voices/measure.py).

The targets (exit status 1 if missed, for the best method of every speaker): similarity >= 0.80,
WER <= 0.25, MOS within 0.3 of Joe's. Needs festival festvox-us-slt-hts festvox-kallpc16k
festvox-kdlpc16k (festvox-italp16k festvox-itapc16k for lp and pc).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass

import numpy as np

from bench.engine import engine_start
from engine.client import Audio, EngineClient
from tests import audio_checks as ac
from voices import fitting, measure

REF_TEXT = {
    "en": (
        "The old lighthouse keeper walked slowly along the rocky shore, watching the grey waves roll in. "
        "Every evening he climbed the narrow stairs to light the lamp."
    ),
    "it": (
        "Il vecchio guardiano del faro camminava lentamente lungo la riva rocciosa, guardando le onde grigie. "
        "Ogni sera saliva le scale strette per accendere la lampada."
    ),
}
NEW_TEXT = [
    "The museum opens at nine and closes early on Sundays.",
    "She bought fresh bread and a bottle of milk on the way home.",
    "Our train was late, so we missed the beginning of the concert.",
    "Remember to water the plants while I am away.",
    "A small dog ran across the street and barked at the mailman.",
    "We will need three more chairs for the dinner party tonight.",
]
# key: (festival voice, language of its reference text, description)
SPEAKERS = {
    "slt": ("cmu_us_slt_arctic_hts", "en", "US English female (CMU ARCTIC slt, HTS)"),
    "kal": ("kal_diphone", "en", "US English male (kal, diphone)"),
    "ked": ("ked_diphone", "en", "US English male (ked, diphone)"),
    "lp": ("lp_diphone", "it", "Italian female (lp, diphone)"),
    "pc": ("pc_diphone", "it", "Italian male (pc, diphone)"),
}
JOE = "EN-MALE-1-NEUTRAL"
TARGET_SIMILARITY, TARGET_WER, TARGET_MOS_GAP = 0.80, 0.25, 0.3
RATE = 24000


def reference_clip(speaker: str) -> bytes:
    voice, lang, _ = SPEAKERS[speaker]
    wav = ac.festival_wav(REF_TEXT[lang], voice)
    seconds = ac.wav_info(wav)[3]
    if not 5.0 <= seconds <= 10.0:
        x, rate = ac.wav_to_array(wav)
        x = x[: int(10.0 * rate)]
        wav = ac.pcm_to_wav((x * 32767).round().astype("<i2").tobytes(), rate)
    return wav


def speak(client: EngineClient, voice: str | None = None, profile: dict | None = None) -> list[np.ndarray]:
    """One float array (24 kHz) per new sentence."""
    return [say(client, text, voice, profile) for text in NEW_TEXT]


def say(client: EngineClient, text: str, voice: str | None = None, profile: dict | None = None) -> np.ndarray:
    pcm = b"".join(e.pcm for e in client.synthesize(text, voice, profile=profile) if isinstance(e, Audio))
    return np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32768.0


@dataclass
class Heard:
    similarity: float
    wer: float
    mos: float
    f0: float


def judge(reference: np.ndarray, rate: int, audio: list[np.ndarray]) -> Heard:
    joined = np.concatenate(audio)
    return Heard(
        measure.speaker_similarity(reference, rate, joined, RATE),
        statistics.fmean(measure.word_error(t, a, RATE) for t, a in zip(NEW_TEXT, audio, strict=True)),
        measure.naturalness(joined, RATE),
        ac.median_f0(ac.pcm_to_wav((np.clip(joined, -1, 1) * 32767).astype("<i2").tobytes())),
    )


def run(url: str, speakers: list[str], budgets: list[float]) -> bool:
    client = EngineClient(url, timeout=300)
    builtins = [v["name"] for v in client.voices() if v["language"].startswith("en")]
    print(f"engine {url}; new text: {len(NEW_TEXT)} sentences not in the references nor the fit's", flush=True)
    builtin_audio = {v: speak(client, v) for v in builtins}
    joe_mos = measure.naturalness(np.concatenate(builtin_audio[JOE]), RATE)
    for v, audio in builtin_audio.items():
        wer = statistics.fmean(measure.word_error(t, a, RATE) for t, a in zip(NEW_TEXT, audio, strict=True))
        print(f"built-in {v}: WER {wer:.3f}, MOS {measure.naturalness(np.concatenate(audio), RATE):.2f}")
    header = (
        f"{'speaker':8} {'method':10} {'sim':>6} {'gain':>6} {'nearest':>20} {'WER':>6} {'MOS':>5} "
        f"{'F0':>5} {'ref F0':>6} {'made s':>7}  targets"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for key in speakers:
        wav = reference_clip(key)
        reference, rate = ac.wav_to_array(wav)
        t0 = time.perf_counter()
        answer = client.encode_speaker(wav)
        encode_s = time.perf_counter() - t0
        analysis = answer["analysis"]
        near = {
            v: measure.speaker_similarity(reference, rate, np.concatenate(a), RATE) for v, a in builtin_audio.items()
        }
        nearest = max(near, key=near.get)
        methods = {p["kind"]: (p, encode_s) for p in answer["candidates"]}
        kokoro = methods.get("kokoro", (None, 0.0))[0]
        for budget in budgets if kokoro is not None else []:
            t1 = time.perf_counter()
            fit = fitting.profile_fit(
                reference=reference,
                sample_rate=rate,
                start=kokoro,
                speak=lambda profile, text: (say(client, text, profile=profile), RATE),
                progress=lambda _: None,
                budget_seconds=budget,
            )
            made = encode_s + time.perf_counter() - t1
            print(
                f"  fit {budget:.0f}s on {key}: {fit.evaluations} evaluations, held-out start "
                f"{fit.start.similarity:.3f}/{fit.start.word_error:.3f} -> {fit.similarity:.3f}/{fit.word_error:.3f}"
                f"{'' if fit.improved else ' (kept the start)'}; {json.dumps(fit.profile)}",
                flush=True,
            )
            methods[f"fit {budget:.0f}s"] = (fit.profile, made)
        best = False
        for method, (profile, made) in methods.items():
            heard = judge(reference, rate, speak(client, profile=profile))
            good = (
                heard.similarity >= TARGET_SIMILARITY
                and heard.wer <= TARGET_WER
                and heard.mos >= joe_mos - TARGET_MOS_GAP
            )
            best |= good
            print(
                f"{key:8} {method:10} {heard.similarity:6.3f} {heard.similarity - near[nearest]:+6.3f} "
                f"{nearest:>20} {heard.wer:6.3f} {heard.mos:5.2f} {heard.f0:5.0f} {analysis['f0_median_hz']:6.0f} "
                f"{made:7.1f}  {'met' if good else 'missed'}",
                flush=True,
            )
        ok &= best
    print(
        f"Joe's MOS {joe_mos:.2f}. Targets (similarity >= {TARGET_SIMILARITY}, WER <= {TARGET_WER}, "
        f"MOS >= {joe_mos - TARGET_MOS_GAP:.2f}) by some method for every speaker: {'met' if ok else 'MISSED'}"
    )
    return ok


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="use this engine instead of starting one")
    p.add_argument("--speakers", default="slt,kal,ked", help=f"comma-separated, from {', '.join(SPEAKERS)}")
    p.add_argument("--fit-budgets", default="120,360", help="seconds for each Kokoro fit, comma-separated")
    args = p.parse_args()
    speakers = [s.strip() for s in args.speakers.split(",") if s.strip()]
    unknown = [s for s in speakers if s not in SPEAKERS]
    if unknown:
        raise SystemExit(f"unknown speakers {unknown}; known: {', '.join(SPEAKERS)}")
    budgets = [float(b) for b in args.fit_budgets.split(",") if b.strip()]
    engine = None
    if args.url:
        url = args.url
    else:
        engine = engine_start()
        url = engine.url
    try:
        ok = run(url, speakers, budgets)
    finally:
        if engine is not None:
            engine.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
