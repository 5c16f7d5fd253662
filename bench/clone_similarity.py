"""Benchmark one-shot voice cloning: speaker similarity and intelligibility.

    .venv/bin/python bench/clone_similarity.py                 # starts its own engine
    .venv/bin/python bench/clone_similarity.py --url http://127.0.0.1:8001 [--speakers slt,kal]

For each reference speaker (Debian's Festival voices, built from recordings
of real speakers, none of them the engine's base voice) it makes a 5-10 s
reference clip with festival's ``text2wave``, encodes it with
``POST /speakers/encode``, then has the built-in voices and the clone say
NEW sentences (not in the reference) and prints:

- ``sim joe`` / ``sim fem``: Resemblyzer similarity of the reference to the
  built-in male (Joe) and female voices saying the new text;
- ``sim clone``: the same for the clone; ``gain``: clone minus the base
  voice (Joe, the engine's one model); ``vs best``: clone minus the better
  of the two built-in voices (the female voice is Joe fitted to slt on
  parallel sentences, so for slt it is a hard, same-speaker baseline);
- ``base``: the built-in starting point the profile picked by pitch;
- ``WER``: pocketsphinx word error rate of that built-in voice and of the
  clone (mean over the sentences); F0 medians of reference and clone.

The goal (exit status 1 if missed): for every reference the clone is more
similar than the base voice, and its WER is at most 0.4.
Needs the dev requirements (resemblyzer with CPU torch, pocketsphinx, jiwer)
and ``festival festvox-us-slt-hts festvox-kallpc16k festvox-kdlpc16k
festvox-italp16k festvox-itapc16k``.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from engine.client import Audio, EngineClient  # noqa: E402
from tests import audio_checks as ac  # noqa: E402

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
MALE, FEMALE = "EN-MALE-1-NEUTRAL", "EN-FEMALE-1-NEUTRAL"
MAX_WER = 0.4


def _bench_engine():
    """``bench/engine.py``'s engine starter (the file's name shadows the package)."""
    spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "bench" / "engine.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.Engine


def reference_clip(speaker: str) -> bytes:
    voice, lang, _ = SPEAKERS[speaker]
    wav = ac.festival_wav(REF_TEXT[lang], voice)
    seconds = ac.wav_info(wav)[3]
    if not 5.0 <= seconds <= 10.0:
        x, rate = ac.wav_to_array(wav)
        x = x[: int(10.0 * rate)]
        wav = ac.pcm_to_wav((x * 32767).round().astype("<i2").tobytes(), rate)
    return wav


def speak(client: EngineClient, voice: str | None = None, profile: dict | None = None) -> list[bytes]:
    """One WAV per new sentence."""
    out = []
    for text in NEW_TEXT:
        pcm = b"".join(e.pcm for e in client.synthesize(text, voice, profile=profile) if isinstance(e, Audio))
        out.append(ac.pcm_to_wav(pcm))
    return out


def joined(wavs: list[bytes]) -> bytes:
    return ac.pcm_to_wav(b"".join(w[44:] for w in wavs))


def mean_wer(wavs: list[bytes]) -> float:
    return statistics.fmean(ac.word_error_rate(t, ac.transcribe(w)) for t, w in zip(NEW_TEXT, wavs, strict=True))


def run(url: str, speakers: list[str]) -> bool:
    client = EngineClient(url, timeout=300)
    print(f"engine {url}; new text: {len(NEW_TEXT)} sentences not in the references", flush=True)
    builtin = {MALE: speak(client, MALE), FEMALE: speak(client, FEMALE)}
    builtin_wer = {v: mean_wer(w) for v, w in builtin.items()}
    print(f"built-in WER: male {builtin_wer[MALE]:.2f}, female {builtin_wer[FEMALE]:.2f}")
    header = (
        f"{'speaker':8} {'ref F0':>6} {'base':>6} {'sim joe':>7} {'sim fem':>7} {'sim clone':>9} {'gain':>6} "
        f"{'vs best':>7} {'clone F0':>8} {'WER base':>8} {'WER clone':>9} {'encode s':>8}  profile"
    )
    print(header)
    print("-" * len(header))
    ok = True
    for key in speakers:
        ref = reference_clip(key)
        t0 = time.perf_counter()
        answer = client.encode_speaker(ref)
        enc_s = time.perf_counter() - t0
        profile, analysis = answer["profile"], answer["analysis"]
        clone = speak(client, profile=profile)
        base_voice = FEMALE if profile["base"] == "female" else MALE
        sims = {v: ac.speaker_similarity(ref, joined(w)) for v, w in builtin.items()}
        sim_clone = ac.speaker_similarity(ref, joined(clone))
        gain = sim_clone - sims[MALE]
        vs_best = sim_clone - max(sims.values())
        wer = mean_wer(clone)
        v = profile["voice"]
        good = gain > 0 and wer <= MAX_WER
        ok &= good
        print(
            f"{key:8} {analysis['f0_median_hz']:6.0f} {profile['base']:>6} {sims[MALE]:7.3f} {sims[FEMALE]:7.3f} "
            f"{sim_clone:9.3f} {gain:+6.3f} {vs_best:+7.3f} {ac.median_f0(joined(clone)):8.0f} "
            f"{builtin_wer[base_voice]:8.2f} {wer:9.2f} {enc_s:8.1f}  "
            f"warp {v['warp']:.2f} pace {v['length_scale']:.2f}{'' if good else '  MISSED'}",
            flush=True,
        )
    verdict = "met" if ok else "MISSED"
    print(f"goal (clone more similar than the base voice, WER <= {MAX_WER}, every speaker): {verdict}")
    return ok


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", help="use this engine instead of starting one")
    p.add_argument("--speakers", default=",".join(SPEAKERS), help=f"comma-separated, from {', '.join(SPEAKERS)}")
    args = p.parse_args()
    speakers = [s.strip() for s in args.speakers.split(",") if s.strip()]
    unknown = [s for s in speakers if s not in SPEAKERS]
    if unknown:
        raise SystemExit(f"unknown speakers {unknown}; known: {', '.join(SPEAKERS)}")
    engine = None
    if args.url:
        url = args.url
    else:
        engine = _bench_engine()()
        url = engine.url
    try:
        ok = run(url, speakers)
    finally:
        if engine is not None:
            engine.stop()
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
