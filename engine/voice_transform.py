"""WORLD-based voice transformation (pitch mapping + formant scaling) and
loudness normalisation.

Used at run time by the Piper engine to derive extra built-in voices from the
one bundled Piper model, and at fit time by ``tools/fit_female_voice.py``.

A transform is a handful of numbers (see ``VoiceTransform``):

- log-F0 mapping  ``lf0' = tgt_mean + (lf0 - src_mean) * tgt_std / src_std``
  (robust location (median) and spread of log-F0 over voiced frames, source =
  Joe, target = the reference speaker);
- ``warp``: frequency scaling of the spectral envelope, ``sp'(f) = sp(f / warp)``
  (``warp > 1`` moves formants up: shorter vocal tract);
- ``eq_db``: a smooth spectral-tilt correction (dB at ``eq_hz``), applied to
  the envelope;
- ``length_scale``: Piper's phoneme duration scale (speaking rate);
- ``ap_floor``: a cap on how periodic the upper band may be, against buzz;
- ``chunk_centering`` (0..1): how much the source centre is this chunk's own
  log-F0 median rather than the source speaker's global one.

A speaker profile (``POST /speakers/encode``, version 1) is the same
parameters as a small JSON object: ``VoiceTransform.to_profile`` /
``VoiceTransform.from_profile`` (which validates every field and raises
``ProfileError``).

Analysis is WORLD: harvest (robust F0, fewer voicing errors than dio on this
model's output -> less buzz), cheaptrick (envelope), d4c (aperiodicity).
"""

from __future__ import annotations

import itertools
import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from engine.profiles import ProfileError  # re-exported: vtm.ProfileError

with warnings.catch_warnings():  # pyworld imports the deprecated pkg_resources
    warnings.simplefilter("ignore")
    import pyworld as pw

FRAME_PERIOD_MS = 5.0
PROFILE_VERSION = 1


# Profile fields: name -> (low, high) for numbers. Anything outside is refused.
_PROFILE_NUMBERS = {
    "src_lf0_mean": (math.log(50.0), math.log(500.0)),
    "src_lf0_std": (0.01, 1.0),
    "tgt_lf0_mean": (math.log(50.0), math.log(500.0)),
    "tgt_lf0_std": (0.01, 1.0),
    "warp": (0.8, 1.4),
    "length_scale": (0.6, 1.6),
    "chunk_centering": (0.0, 1.0),
}
_PROFILE_MAX_EQ_POINTS = 32
_PROFILE_MAX_EQ_DB = 12.0


def _number(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProfileError(f"profile field {name!r} must be a finite number")
    return float(value)


@dataclass
class VoiceTransform:
    src_lf0_mean: float
    src_lf0_std: float
    tgt_lf0_mean: float
    tgt_lf0_std: float
    warp: float = 1.0
    eq_hz: list[float] = field(default_factory=list)
    eq_db: list[float] = field(default_factory=list)
    length_scale: float = 1.0
    ap_floor_hz: float = 4000.0
    ap_floor: float = 0.0
    chunk_centering: float = 0.0
    f0_floor: float = 60.0
    f0_ceil: float = 320.0
    meta: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> VoiceTransform:
        data = json.loads(Path(path).read_text())
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    def to_profile(self, base: str) -> dict:
        """The version-1 speaker profile: these parameters, rounded, as JSON-able data."""
        return {
            "kind": "world",
            "version": PROFILE_VERSION,
            "engine": "piper-cpu",
            "base": base,
            "voice": {
                **{k: round(float(getattr(self, k)), 4) for k in _PROFILE_NUMBERS},
                "eq_hz": [round(float(h), 1) for h in self.eq_hz],
                "eq_db": [round(float(d), 2) for d in self.eq_db],
            },
        }

    @classmethod
    def from_profile(cls, profile) -> tuple[VoiceTransform, str]:
        """Validate a version-1 profile; (transform, base). Raises ``ProfileError``."""
        if not isinstance(profile, dict):
            raise ProfileError("'profile' must be a JSON object")
        version = profile.get("version")
        if version != PROFILE_VERSION or isinstance(version, bool):
            raise ProfileError(f"unsupported profile version {version!r} (this engine reads version {PROFILE_VERSION})")
        base = profile.get("base")
        if base not in ("male", "female"):
            raise ProfileError("profile field 'base' must be 'male' or 'female'")
        voice = profile.get("voice")
        if not isinstance(voice, dict):
            raise ProfileError("profile field 'voice' must be an object")
        values = {}
        for name, (lo, hi) in _PROFILE_NUMBERS.items():
            if name not in voice:
                raise ProfileError(f"profile field {name!r} is missing")
            v = _number(voice[name], name)
            if not lo <= v <= hi:
                raise ProfileError(f"profile field {name!r} = {v} is outside {lo:.4g}..{hi:.4g}")
            values[name] = v
        eq_hz, eq_db = voice.get("eq_hz"), voice.get("eq_db")
        if not isinstance(eq_hz, list) or not isinstance(eq_db, list) or len(eq_hz) != len(eq_db):
            raise ProfileError("profile fields 'eq_hz' and 'eq_db' must be lists of the same length")
        if len(eq_hz) > _PROFILE_MAX_EQ_POINTS:
            raise ProfileError(f"at most {_PROFILE_MAX_EQ_POINTS} EQ points")
        hz = [_number(h, "eq_hz") for h in eq_hz]
        db = [_number(d, "eq_db") for d in eq_db]
        if any(b <= a for a, b in itertools.pairwise(hz)) or any(h < 0 or h > 24000 for h in hz):
            raise ProfileError("'eq_hz' must increase strictly, within 0..24000 Hz")
        if any(abs(d) > _PROFILE_MAX_EQ_DB for d in db):
            raise ProfileError(f"'eq_db' values must be within +/-{_PROFILE_MAX_EQ_DB} dB")
        return cls(**values, eq_hz=hz, eq_db=db, meta={"base": base}), base

    @property
    def target_median_hz(self) -> float:
        return float(np.exp(self.tgt_lf0_mean))


# --- analysis -------------------------------------------------------------


def analyze(x: np.ndarray, fs: int, f0_floor: float = 60.0, f0_ceil: float = 320.0):
    """WORLD analysis: (f0, sp, ap) at FRAME_PERIOD_MS."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pw.harvest(x, fs, f0_floor=f0_floor, f0_ceil=f0_ceil, frame_period=FRAME_PERIOD_MS)
    sp = pw.cheaptrick(x, f0, t, fs)
    ap = pw.d4c(x, f0, t, fs)
    return f0, sp, ap


def lf0_stats(f0s: list[np.ndarray]) -> tuple[float, float]:
    """Robust location and spread of log-F0 over voiced frames: the median and
    the interquartile range / 1.349 (= the standard deviation for a normal
    distribution, but not dragged around by octave slips)."""
    v = np.concatenate([np.log(f[f > 0]) for f in f0s])
    q1, med, q3 = np.percentile(v, [25, 50, 75])
    return float(med), float((q3 - q1) / 1.349)


def warp_matrix_indices(n_bins: int, warp: float):
    """Interpolation indices/weights realising ``sp'(k) = sp(k / warp)``."""
    src = np.arange(n_bins, dtype=np.float64) / warp
    src = np.clip(src, 0, n_bins - 1)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_bins - 1)
    w = src - i0
    return i0, i1, w


def warp_envelope(sp: np.ndarray, warp: float) -> np.ndarray:
    """Frequency-scale a (frames x bins) power envelope, interpolating in log."""
    if abs(warp - 1.0) < 1e-6:
        return sp
    i0, i1, w = warp_matrix_indices(sp.shape[1], warp)
    lsp = np.log(np.maximum(sp, 1e-20))
    out = lsp[:, i0] * (1.0 - w) + lsp[:, i1] * w
    return np.exp(out)


def eq_curve_db(eq_hz, eq_db, fs: int, n_bins: int) -> np.ndarray:
    freqs = np.linspace(0, fs / 2, n_bins)
    if not eq_hz:
        return np.zeros(n_bins)
    return np.interp(freqs, eq_hz, eq_db)


# --- conversion ---------------------------------------------------------


def convert(x: np.ndarray, fs: int, vt: VoiceTransform) -> np.ndarray:
    """Transform float audio ``x`` (source speaker) toward the target voice."""
    if x.size < fs // 20:  # < 50 ms: nothing to analyse, keep as is
        return x.astype(np.float32)
    f0, sp, ap = analyze(x, fs, vt.f0_floor, vt.f0_ceil)

    voiced = f0 > 0
    f0_new = np.zeros_like(f0)
    if voiced.any():
        lf0 = np.log(f0[voiced])
        ratio = vt.tgt_lf0_std / max(vt.src_lf0_std, 1e-6)
        center = vt.src_lf0_mean
        if vt.chunk_centering > 0 and lf0.size >= 20:
            # Centre on this chunk's own median: every sentence then sits at
            # the target speaker's median instead of inheriting the source's
            # sentence-to-sentence register jumps.
            w = float(vt.chunk_centering)
            center = (1 - w) * vt.src_lf0_mean + w * float(np.median(lf0))
        f0_new[voiced] = np.exp(vt.tgt_lf0_mean + (lf0 - center) * ratio)
        f0_new = np.clip(f0_new, 0, 600)

    sp_new = warp_envelope(sp, vt.warp)
    n_bins = sp.shape[1]
    eq = eq_curve_db(vt.eq_hz, vt.eq_db, fs, n_bins)
    if np.any(eq):
        sp_new = sp_new * (10.0 ** (eq / 10.0))[None, :]  # power envelope

    ap_new = ap
    if vt.ap_floor > 0:
        freqs = np.linspace(0, fs / 2, n_bins)
        ramp = np.clip((freqs - vt.ap_floor_hz) / max(fs / 2 - vt.ap_floor_hz, 1.0), 0, 1) * vt.ap_floor
        ap_new = np.maximum(ap, ramp[None, :])

    y = pw.synthesize(
        np.ascontiguousarray(f0_new),
        np.ascontiguousarray(sp_new),
        np.ascontiguousarray(ap_new),
        fs,
        FRAME_PERIOD_MS,
    )
    y = y[: x.size] if y.size >= x.size else np.pad(y, (0, x.size - y.size))
    return y.astype(np.float32)


# --- loudness ---------------------------------------------------------------

TARGET_ACTIVE_DBFS = -20.0
PEAK_LIMIT = 0.89  # -1 dBFS


def active_rms(x: np.ndarray, fs: int, gate_db: float = 35.0) -> float:
    """RMS over 20 ms frames within ``gate_db`` of the loudest frame (speech, not pauses)."""
    n = max(int(fs * 0.02), 1)
    frames = x[: (x.size // n) * n].reshape(-1, n) if x.size >= n else x.reshape(1, -1)
    if frames.size == 0:
        return 0.0
    e = np.sqrt(np.mean(frames.astype(np.float64) ** 2, axis=1))
    top = float(e.max())
    if top <= 1e-7:
        return 0.0
    keep = e >= top * 10 ** (-gate_db / 20)
    return float(np.sqrt(np.mean(e[keep] ** 2)))


def normalize_loudness(x: np.ndarray, fs: int, target_dbfs: float = TARGET_ACTIVE_DBFS) -> np.ndarray:
    """Scale to a fixed active-speech level, never above the peak limit."""
    level = active_rms(x, fs)
    if level <= 1e-6:
        return np.zeros_like(x, dtype=np.float32)
    gain = 10 ** (target_dbfs / 20) / level
    peak = float(np.max(np.abs(x)))
    if peak * gain > PEAK_LIMIT:
        gain = PEAK_LIMIT / peak
    gain = min(gain, 30.0)
    return (x * gain).astype(np.float32, copy=False)
