"""The voices as a listener would judge them: intelligibility, naturalness, pitch, speed; clones too.

    .venv/bin/python -m bench.voices                     # every built-in voice
    .venv/bin/python -m bench.voices --candidates        # also the Kokoro recipes tried for them
    .venv/bin/python -m bench.voices --voices EN-MALE-1-NEUTRAL,tebukuro0.7+kumo0.3-0.9  # a subset
    .venv/bin/python -m bench.voices --japanese          # the Kokoro voices reading JA_HELD_OUT
    .venv/bin/python -m bench.voices --clones            # then clones of SLT, KAL and KED (bench/clone_similarity.py)

For every voice it speaks HELD_OUT (sentences no voice was chosen on) in-process, on the backend
that speaks it (engine/backends.py), with ENGINE_THREADS threads (default 2), and prints:

- word error: pocketsphinx's transcript against the text (tests/audio_checks.py), the mean over
  the sentences, with Joe (EN-MALE-1-NEUTRAL) as the bar;
- naturalness: DNSMOS's overall MOS (speechmos; voices/measure.py) of all the sentences joined,
  with Joe as the bar;
- median F0 (pyworld harvest) over all the sentences;
- RTF: synthesis seconds / audio seconds, warm (the model load is not counted);
- whether the voice meets issue 13's targets: word error at most Joe's + 0.03, naturalness within
  0.2 of Joe's, and for a female voice a median F0 of at least 165 Hz.

With ``--clones`` it then runs bench/clone_similarity.py's measurements (the same engine code, in
an engine process of its own): for clones of Festival's SLT, KAL and KED references made as a user
uploads them, similarity on held-out sentences, the gain over the nearest built-in, word error,
naturalness and creation time, for the WORLD and Kokoro quick profiles and the background fit
(``--fit-budgets``, default 120 s).

With ``--japanese`` every Kokoro voice reads JA_HELD_OUT instead; there is no Japanese recogniser
here, so it prints median F0, seconds per mora (of OpenJTalk's reading) and RTF.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from engine.kokoro_engine import KokoroEngine, KokoroVoice
from engine.piper_engine import PiperEngine, to_pcm16
from tests.audio_checks import japanese_morae, median_f0, pcm_to_wav, transcribe, word_error_rate
from voices import measure

JOE = "EN-MALE-1-NEUTRAL"
WER_MARGIN, MOS_MARGIN, FEMALE_F0_MIN = 0.03, 0.2, 165.0

HELD_OUT = [
    "The library closes early on Sundays, so we should go in the morning.",
    "Please put the blue folder on the shelf next to the window.",
    "He paid for the tickets with the money he had saved all summer.",
    "The children were laughing as they ran down the hill toward the lake.",
    "Our neighbour grows tomatoes, peppers and beans in her back garden.",
    "If the rain stops soon, we can still walk to the market before lunch.",
    "The doctor told him to drink more water and to sleep for eight hours.",
    "A strong wind blew the leaves across the road and into the river.",
    "She wrote a long letter to her grandmother and posted it on Monday.",
    "The new bridge will open next year and carry four lanes of traffic.",
    "I found my old camera in a box under the stairs last weekend.",
    "They waited at the corner until the bus finally arrived at nine.",
]

# Japanese sentences no voice was chosen on (the last kanji-heavy: the slowest to read).
JA_HELD_OUT = [
    "今日は朝から雨が降っていたので、駅まで傘をさして歩きました。",
    "この本は図書館で借りたもので、来週の月曜日までに返さなければなりません。",
    "新しいパン屋さんが近所にできたので、週末に家族で行ってみるつもりです。",
    "彼女は毎朝六時に起きて、公園を三十分ほど散歩しています。",
    "会議の資料は机の上に置いてありますので、後で確認してください。",
    "夏休みには、祖父母の住む海辺の町へ電車で出かけます。",
    "経済産業省は昨年度の国内総生産成長率を発表した。",
]

# Kokoro recipes measured for the built-in voices (issue 13's table, here on HELD_OUT).
CANDIDATES = [
    KokoroVoice("gongitsune-1.0", "female", "en-US", "", (("jf_gongitsune", 1.0),), "jf_gongitsune", 1.0),
    KokoroVoice("gongitsune-0.9", "female", "en-US", "", (("jf_gongitsune", 1.0),), "jf_gongitsune", 0.9),
    KokoroVoice(
        "gong0.7+kumo0.3-0.9", "female", "en-US", "", (("jf_gongitsune", 0.7), ("jm_kumo", 0.3)), "jf_gongitsune", 0.9
    ),
    KokoroVoice(
        "gong0.7+kumo0.3-1.0", "female", "en-US", "", (("jf_gongitsune", 0.7), ("jm_kumo", 0.3)), "jf_gongitsune", 1.0
    ),
    KokoroVoice("kumo-1.0", "male", "en-US", "", (("jm_kumo", 1.0),), "jm_kumo", 1.0),
    KokoroVoice("kumo-0.9", "male", "en-US", "", (("jm_kumo", 1.0),), "jm_kumo", 0.9),
    # For EN-FEMALE-2-NEUTRAL: the other female packs, their timbre mixed with kumo's as EN-FEMALE-1's is.
    *(
        KokoroVoice(
            f"{pack[3:]}{1 - kumo:.1f}+kumo{kumo:.1f}-0.9",
            "female",
            "en-US",
            "",
            ((pack, 1 - kumo), ("jm_kumo", kumo)),
            pack,
            0.9,
        )
        for pack in ("jf_alpha", "jf_nezumi", "jf_tebukuro")
        for kumo in (0.3, 0.4)
    ),
]


def heard(backend, voice, sentences: list[str], language: str = "en") -> dict:
    wers, pcm, synth, audio, morae = [], b"", 0.0, 0.0, 0
    for text in sentences:
        chunks = backend.prepare(text, language)
        t0 = time.perf_counter()
        x = [backend.synthesize_chunk(chunk, voice) for chunk in chunks]
        synth += time.perf_counter() - t0
        part = b"".join(to_pcm16(a) for a in x)
        audio += len(part) / 48000
        pcm += part
        if language == "ja":
            morae += japanese_morae(text)
        else:
            wers.append(word_error_rate(text, transcribe(pcm_to_wav(part))))
    return {
        "wer": statistics.mean(wers) if wers else None,
        "f0": median_f0(pcm_to_wav(pcm)),
        "rtf": synth / audio,
        "s_per_mora": audio / morae if morae else None,
        "mos": measure.naturalness(np.frombuffer(pcm, dtype="<i2") / 32768.0, 24000),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--candidates", action="store_true", help="also measure the Kokoro recipes tried")
    p.add_argument("--voices", help="only these voices (comma-separated built-in or candidate names)")
    p.add_argument("--japanese", action="store_true", help="the Kokoro voices reading Japanese instead")
    p.add_argument("--clones", action="store_true", help="then clones of SLT, KAL and KED (bench/clone_similarity.py)")
    p.add_argument("--fit-budgets", default="120", help="with --clones: seconds for each Kokoro fit, comma-separated")
    args = p.parse_args()
    threads = int(os.environ.get("ENGINE_THREADS") or 2)
    piper, kokoro = PiperEngine(threads=threads), KokoroEngine(threads=threads)
    piper.load()
    kokoro.load()
    rows = [(name, piper, voice) for name, voice in piper.voices.items()]
    rows += [(name, kokoro, voice) for name, voice in kokoro.voices.items()]
    if args.candidates or args.voices:
        for voice in CANDIDATES:
            kokoro.voices[voice.name] = voice
        kokoro._model = kokoro._open()  # the style tables of the candidates too
        rows += [(voice.name, kokoro, voice) for voice in CANDIDATES]
    if args.voices:
        wanted = [name.strip() for name in args.voices.split(",")]
        rows = [row for row in rows if row[0] in wanted]
        missing = set(wanted) - {row[0] for row in rows}
        if missing:
            p.error(f"unknown voices: {', '.join(sorted(missing))}")
    if args.japanese:
        rows = [row for row in rows if row[1] is kokoro]
        print(f"{len(JA_HELD_OUT)} held-out Japanese sentences, {threads} threads\n")
        print("| voice | naturalness | median F0 | s/mora | RTF |")
        print("| --- | --- | --- | --- | --- |")
        for name, backend, voice in rows:
            m = heard(backend, voice, JA_HELD_OUT, "ja")
            print(
                f"| {name} | {m['mos']:.2f} | {m['f0']:.0f} Hz | {m['s_per_mora']:.3f} | {m['rtf']:.2f} |", flush=True
            )
    else:
        english(rows, piper)
    if args.clones:
        clones(args.fit_budgets)


def english(rows: list, piper: PiperEngine) -> None:
    print(f"{len(HELD_OUT)} held-out sentences, {int(os.environ.get('ENGINE_THREADS') or 2)} threads\n")
    print("| voice | backend | word error | naturalness | median F0 | RTF | targets |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    joe = heard(piper, piper.voices[JOE], HELD_OUT)  # the bar, measured first
    for name, backend, voice in rows:
        m = joe if name == JOE else heard(backend, voice, HELD_OUT)
        verdict = targets(voice, m, joe)
        print(
            f"| {name} | {backend.name} | {m['wer']:.3f} | {m['mos']:.2f} | {m['f0']:.0f} Hz | {m['rtf']:.2f} "
            f"| {verdict} |",
            flush=True,
        )


def targets(voice, m: dict, joe: dict) -> str:
    """Issue 13's targets for an English voice, against Joe on the same sentences."""
    if not voice.language.startswith("en"):
        return "not an English voice"  # a Japanese voice reading English: shown, not judged
    missed = [
        what
        for what, failed in (
            ("word error", m["wer"] > joe["wer"] + WER_MARGIN),
            ("naturalness", m["mos"] < joe["mos"] - MOS_MARGIN),
            ("pitch", voice.gender == "female" and m["f0"] < FEMALE_F0_MIN),
        )
        if failed
    ]
    return "missed: " + ", ".join(missed) if missed else "met"


def clones(fit_budgets: str) -> None:
    """bench/clone_similarity.py's clone measurements, on an engine of their own."""
    from bench import clone_similarity  # Resemblyzer and the fitter load only for --clones
    from bench.engine import engine_start

    print()
    engine = engine_start()
    try:
        clone_similarity.run(engine.url, ["slt", "kal", "ked"], [float(b) for b in fit_budgets.split(",") if b.strip()])
    finally:
        engine.stop()


if __name__ == "__main__":
    main()
