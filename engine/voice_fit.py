"""Fitting a ``VoiceTransform`` to a reference speaker.

One piece of code for both ways the engine gets a voice from a reference:

- **parallel** (``tools/fit_female_voice.py``, an offline script run once for the shipped WORLD
  female base, ``EN-FEMALE-1-NEUTRAL`` before Kokoro): the reference and Joe say the *same* sentences;
  their envelopes are aligned by DTW (the script's ``dtw_path``);
- **one-shot** (``reference_analyze`` then ``encode_reference``, the ``POST /speakers/encode``
  endpoint, which makes its Kokoro quick profile from the same ``Reference``):
  a 5-10 s clip of *unknown* text. Joe's side is a calibration corpus he
  speaks (``SourceCorpus``, built once per engine process); each reference
  frame is matched to its nearest Joe frame instead of a DTW partner.

Either way the same steps produce the same parameters (``VoiceTransform``):

1. pitch: robust log-F0 median and spread (``vtm.lf0_stats``), the spread
   floored at ``SPREAD_FLOOR`` x Joe's (synthetic and short references
   under-state intonation; a flat voice sounds robotic);
2. formants: the frequency warp whose warped Joe envelopes lie closest to the
   reference's, per frame, after removing each frame's level and the constant
   average difference (which the EQ takes) (``warp_score``);
3. timbre: the remaining average log-mel difference as a smooth, clipped EQ
   curve (``eq_from_diff``);
4. pace: Piper's ``length_scale`` from speaking rates.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import soxr

from engine import voice_transform as vtm

FS = 22050  # Piper's rate: all fitting happens here
SPREAD_FLOOR = 0.6  # target log-F0 spread >= this x the source's
EQ_LIMIT_DB = 6.0  # the parallel (female) fit
ONE_SHOT_EQ_LIMIT_DB = 9.0  # one-shot: more similar (slt +0.02), no intelligibility cost seen (bench)

# Joe's calibration corpus (the parallel female fit uses the same sentences).
CALIBRATION_SENTENCES = [
    "Author of the danger trail, Philip Steels, et cetera.",
    "Not at this particular case, Tom, apologized Whittemore.",
    "For the twentieth time that evening the two men shook hands.",
    "Lord, but I'm glad to see you again, Phil.",
    "Will we ever forget it?",
    "God bless 'em, I hope I'll go on seeing them forever.",
    "And you always want to see it in the superlative degree.",
    "Gad, your letter came just in time.",
    "He turned sharply, and faced Gregson across the table.",
    "I'm playing a single hand in what looks like a losing game.",
    "If I ever needed a fighter in my life I need one now.",
    "Gregson shoved back his chair and rose to his feet.",
    "The weather was cold and clear, and the children played outside until dark.",
    "Please call me back tomorrow morning when you have a moment.",
]


# --- shared primitives ------------------------------------------------------------


def speech_seconds(x: np.ndarray, fs: int = FS) -> float:
    """Seconds of 20 ms frames within 35 dB of the loudest one (pauses excluded)."""
    n = int(fs * 0.02)
    frames = x[: (x.size // n) * n].reshape(-1, n)
    if frames.size == 0:
        return 0.0
    e = np.sqrt((frames**2).mean(axis=1))
    return float((e >= e.max() * 10 ** (-35 / 20)).sum() * 0.02)


def mel_filterbank(n_bins: int, fs: int, n_mels: int = 40, fmin: float = 80.0, fmax: float = 8000.0):
    def hz2mel(f):
        return 2595 * np.log10(1 + f / 700)

    def mel2hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    freqs = np.linspace(0, fs / 2, n_bins)
    edges = mel2hz(np.linspace(hz2mel(fmin), hz2mel(fmax), n_mels + 2))
    fb = np.zeros((n_mels, n_bins))
    for i in range(n_mels):
        lo, c, hi = edges[i], edges[i + 1], edges[i + 2]
        up = (freqs - lo) / (c - lo)
        down = (hi - freqs) / (hi - c)
        fb[i] = np.maximum(0, np.minimum(up, down))
    fb /= np.maximum(fb.sum(axis=1, keepdims=True), 1e-9)
    return fb, edges[1:-1]


def log_mel(sp: np.ndarray, fb: np.ndarray) -> np.ndarray:
    return np.log(np.maximum(sp @ fb.T, 1e-20))


def level_free_log_mel(sp: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """Log-mel spectra with each frame's mean (its level) removed."""
    lm = log_mel(sp, fb)
    return lm - lm.mean(axis=1, keepdims=True)


def cepstra(lm: np.ndarray, n: int = 13) -> np.ndarray:
    m = lm.shape[1]
    k = np.arange(m)
    dct = np.cos(np.pi / m * (k[None, :] + 0.5) * np.arange(n)[:, None])
    return lm @ dct.T


def target_spread(tgt_std: float, src_std: float) -> float:
    return max(tgt_std, SPREAD_FLOOR * src_std)


def eq_from_diff(mean_diff: np.ndarray, centers: np.ndarray, fs: int = FS, limit_db: float = EQ_LIMIT_DB):
    """EQ points (``eq_hz``, ``eq_db``) from an average log-mel difference
    (natural log of power, target minus warped source): smoothed, level-free,
    clipped to +/- ``limit_db``, about a dozen points 200 Hz..8 kHz, held flat
    outside (below ~200 Hz the bands see F0 rather than the vocal tract)."""
    diff_db = 10 * mean_diff / np.log(10)
    k = np.ones(5) / 5
    smooth = np.convolve(np.pad(diff_db, 2, mode="edge"), k, mode="valid")
    usable = centers[centers >= 200.0]
    eq_hz = [0.0, *list(np.round(usable[::3], 1)), fs / 2]
    eq_pts = np.interp(eq_hz[1:-1], centers, smooth)
    eq_pts = eq_pts - np.average(eq_pts)  # level is handled by loudness normalisation
    eq_pts = np.clip(eq_pts, -limit_db, limit_db)
    eq_pts = [float(round(v, 2)) for v in eq_pts]
    return [float(h) for h in eq_hz], [eq_pts[0], *eq_pts, eq_pts[-1]]


def best_warp(src_sp: np.ndarray, score: Callable[[np.ndarray], float], warps: Sequence[float] | np.ndarray):
    """The warp whose warped source envelopes ``score`` lowest: (warp, score, all scores)."""
    scores = [(float(w), float(score(vtm.warp_envelope(src_sp, float(w))))) for w in warps]
    w, s = min(scores, key=lambda ws: ws[1])
    return w, s, scores


# --- speaking rate -------------------------------------------------------------------


def syllable_rate(sp: np.ndarray, fs: int = FS, hysteresis_db: float = 4.0) -> float:
    """Syllable nuclei per second of speech, text-independent: peaks of the
    300-2500 Hz energy (from the WORLD envelope, 5 ms frames, ~40 ms
    smoothing) that rise and fall by ``hysteresis_db``, within 30 dB of the
    loudest frames; divided by the speech-active time."""
    freqs = np.linspace(0, fs / 2, sp.shape[1])
    band = (freqs >= 300) & (freqs <= 2500)
    e = 10 * np.log10(np.maximum(sp[:, band].sum(axis=1), 1e-20))
    k = np.ones(8) / 8
    e = np.convolve(np.pad(e, 4, mode="edge"), k, mode="same")[4:-4]
    top = float(np.percentile(e, 95))
    active = e >= top - 30.0
    seconds = active.sum() * vtm.FRAME_PERIOD_MS / 1000.0
    if seconds <= 0.5:
        return 0.0
    peaks, low, high, rising = 0, math.inf, -math.inf, True
    for v in e:
        if rising:
            low = min(low, v)
            if v > low + hysteresis_db:
                rising, high = False, v
        else:
            high = max(high, v)
            if v < high - hysteresis_db:
                if high >= top - 25.0:
                    peaks += 1
                rising, low = True, v
    return peaks / seconds


# --- one-shot: the source corpus and the encoder --------------------------------


@dataclass
class SourceCorpus:
    """Joe saying the calibration sentences, analysed once (WORLD, voiced frames)."""

    voiced_sp: np.ndarray  # (frames, bins) float32 power envelopes, voiced frames (every 2nd)
    lf0_mean: float
    lf0_std: float
    syllable_rate: float

    @classmethod
    def build(cls, render: Callable[[str], np.ndarray], sentences: Sequence[str] = CALIBRATION_SENTENCES[:10]):
        f0s, sps, rates = [], [], []
        for text in sentences:
            f0, sp, _ = vtm.analyze(render(text), FS, 60.0, 320.0)
            f0s.append(f0)
            sps.append(sp[f0 > 0][::2].astype(np.float32))
            rates.append(syllable_rate(sp))
        mean, std = vtm.lf0_stats(f0s)
        return cls(np.concatenate(sps), mean, std, float(np.mean(rates)))


class NoSpeech(ValueError):
    """The clip has too little voiced speech to describe a speaker."""


MIN_VOICED_SECONDS = 2.0
MIN_VOICED_RUNS = 4  # separate voiced stretches of >= 50 ms (syllables, not one tone)
MIN_LF0_SPREAD = 0.02  # speech has intonation; a steady buzz does not
FEMALE_BASE_ABOVE_HZ = 155.0  # between Joe (~135 Hz) and slt (~178 Hz)
# Above ~1.22 intelligibility drops faster than similarity rises (bench).
WARP_GRID = np.round(np.arange(0.90, 1.221, 0.02), 2)
LENGTH_SCALE_RANGE = (0.9, 1.15)


def analyze_reference(x: np.ndarray, fs: int):
    """Resample to ``FS`` and WORLD-analyse with a wide F0 range, then again
    with a range around the found median (fewer octave errors)."""
    x = np.asarray(x, dtype=np.float64)
    if fs != FS:
        x = soxr.resample(x, fs, FS, quality="HQ")
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if x.size < FS or peak < 1e-4:
        raise NoSpeech("the clip is silent or too short")
    x = x / peak * 0.5
    f0, sp, ap = vtm.analyze(x, FS, 50.0, 500.0)
    return x, f0, sp, ap


def voiced_mask(f0: np.ndarray, ap: np.ndarray) -> np.ndarray:
    """Voiced frames that are really periodic: harvest finds some F0 in
    noise, but there the low band stays aperiodic (d4c near 1)."""
    n_bins = ap.shape[1]
    low = slice(1, max(2, int(n_bins * 1000 / (FS / 2))))
    periodic = ap[:, low].mean(axis=1) < 0.5
    return (f0 > 0) & periodic


@dataclass
class Reference:
    """A reference clip checked and analysed once (``reference_analyze``), for every kind of
    quick profile made from it."""

    x: np.ndarray  # at FS, peak 0.5
    f0: np.ndarray
    sp: np.ndarray
    voiced: np.ndarray
    voiced_seconds: float
    lf0_mean: float
    lf0_std: float
    syllable_rate: float

    @property
    def median_hz(self) -> float:
        return float(np.exp(self.lf0_mean))

    @property
    def female(self) -> bool:
        return self.median_hz > FEMALE_BASE_ABOVE_HZ

    def analysis(self) -> dict:
        return {
            "speech_seconds": round(speech_seconds(self.x), 2),
            "voiced_seconds": round(float(self.voiced_seconds), 2),
            "f0_median_hz": round(self.median_hz, 1),
            "f0_spread": round(self.lf0_std, 4),
            "syllables_per_second": round(float(self.syllable_rate), 2),
        }


def reference_analyze(x: np.ndarray, fs: int) -> Reference:
    """Check and analyse a reference clip; raises ``NoSpeech``."""
    x, f0, sp, ap = analyze_reference(x, fs)
    voiced = voiced_mask(f0, ap)
    voiced_s = voiced.sum() * vtm.FRAME_PERIOD_MS / 1000.0
    if voiced_s < MIN_VOICED_SECONDS:
        raise NoSpeech(f"only {voiced_s:.1f} s of voiced speech (at least {MIN_VOICED_SECONDS} s needed)")
    edges = np.diff(np.concatenate([[0], voiced.astype(np.int8), [0]]))
    lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    runs = int((lengths * vtm.FRAME_PERIOD_MS >= 50).sum())
    f0v = np.where(voiced, f0, 0.0)
    tgt_mean, tgt_std = vtm.lf0_stats([f0v])
    if runs < MIN_VOICED_RUNS or tgt_std < MIN_LF0_SPREAD:
        raise NoSpeech("no speech-like pitch movement (a steady tone or noise, not a voice)")
    return Reference(x, f0, sp, voiced, float(voiced_s), float(tgt_mean), float(tgt_std), float(syllable_rate(sp)))


def encode_reference(ref: Reference, corpus: SourceCorpus, bases: dict[str, vtm.VoiceTransform | None]):
    """Fit a one-shot ``VoiceTransform`` to an analysed reference clip.

    ``bases``: ``{"male": None, "female": <female transform>}``: the base voice
    is chosen by the reference's median F0 and centres the warp search; its
    name goes into the transform's ``meta``. Returns (transform, analysis).
    """
    sp, voiced = ref.sp, ref.voiced
    tgt_mean, tgt_std = ref.lf0_mean, ref.lf0_std
    base = "female" if ref.female else "male"
    base_vt = bases.get(base)
    base_warp = base_vt.warp if base_vt is not None else 1.0

    # Formants: nearest-neighbour frame matching (text-independent), both ways.
    src = corpus.voiced_sp.astype(np.float64)
    frames = sp[voiced]
    fb, centers = mel_filterbank(sp.shape[1], FS, 40, 100.0, 7000.0)
    fr = level_free_log_mel(frames, fb)
    cr = cepstra(fr - fr.mean(axis=0), 20)[:, 1:]
    cr2 = (cr**2).sum(axis=1)

    def score(warped: np.ndarray) -> float:
        fj = level_free_log_mel(warped, fb)
        cj = cepstra(fj - fj.mean(axis=0), 20)[:, 1:]
        d2 = cr2[:, None] + (cj**2).sum(axis=1)[None, :] - 2.0 * cr @ cj.T
        d = np.sqrt(np.maximum(d2, 0.0))
        return float(d.min(axis=1).mean() + d.min(axis=0).mean())

    grid = [w for w in WARP_GRID if abs(w - base_warp) <= 0.16 + 1e-9]
    warp, warp_score, _ = best_warp(src, score, grid)

    # Timbre: what the warp leaves of the average spectral difference.
    fj = level_free_log_mel(vtm.warp_envelope(src, warp), fb)
    eq_hz, eq_db = eq_from_diff(fr.mean(axis=0) - fj.mean(axis=0), centers, limit_db=ONE_SHOT_EQ_LIMIT_DB)

    # Pace: syllable rate, half-strength (a 5-10 s clip of unknown text is a
    # noisy measure), clamped.
    ratio = corpus.syllable_rate / ref.syllable_rate if ref.syllable_rate > 0 else 1.0
    length_scale = float(np.clip(math.sqrt(ratio), *LENGTH_SCALE_RANGE))

    vt = vtm.VoiceTransform(
        src_lf0_mean=round(corpus.lf0_mean, 4),
        src_lf0_std=round(corpus.lf0_std, 4),
        tgt_lf0_mean=round(tgt_mean, 4),
        tgt_lf0_std=round(target_spread(tgt_std, corpus.lf0_std), 4),
        warp=warp,
        eq_hz=eq_hz,
        eq_db=eq_db,
        length_scale=round(length_scale, 3),
        chunk_centering=1.0,
        meta={"base": base},
    )
    analysis = {
        **ref.analysis(),
        "base": base,
        "warp": float(warp),
        "warp_score": round(warp_score, 3),
    }
    return vt, analysis
