"""The slow clone fit: a Kokoro speaker profile searched for by measuring what it sounds like.

``profile_fit`` starts from the quick profile ``POST /speakers/encode`` made (a pack mix chosen by
the reference's pitch, its F0 scale set from the reference's median F0) and searches, with CMA-ES
(``cma``), the offset along the top principal directions of the packs' timbre halves and the F0
scale (engine/kokoro_profile.py). Each candidate speaks the TRAINING sentences through ``speak``
(the engine, as the product hears it) and is scored

    similarity to the reference (Resemblyzer) - WORD_ERROR_WEIGHT x word error (pocketsphinx)

so intelligibility weighs as much as likeness: a clone nobody can follow is no clone. The best
candidates are then judged on HELD_OUT sentences the search never heard (several training
sentences and a held-out choice keep the fit from learning one sentence), and the start is
returned unless one beats it there, so a fit is never worse than what the user already has.
Naturalness (DNSMOS) is measured on the held-out sentences too, and a candidate that loses more
than NATURALNESS_SLACK of it against the start is not taken.

It runs in the fitter process (it needs torch for Resemblyzer), never in the engine.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from engine import kokoro_profile as kp
from voices import measure

# Neither list shares a sentence with the other, nor with what bench/clone_similarity.py judges
# the result on; each is a few short sentences, as every candidate speaks them all.
TRAINING = [
    "The morning train was crowded, so we stood by the door.",
    "She painted the kitchen yellow and hung new curtains.",
    "Nobody knew where the old key had gone.",
]
HELD_OUT = [
    "My brother fixed the bicycle in the garage last night.",
    "Turn left at the bakery and walk two more blocks.",
    "The soup needs more salt and a little pepper.",
    "We watched the storm roll over the hills from the porch.",
]
WORD_ERROR_WEIGHT = 1.0
NATURALNESS_SLACK = 0.15
FINALISTS = 2  # best training candidates judged on the held-out sentences (1 in a short budget)
SHORT_BUDGET_SECONDS = 200.0
DIRECTIONS = 12
SIGMA0 = 0.6  # CMA-ES step, in the directions' standard deviations
LOG_F0_SIGMA = 0.08  # the F0 scale is searched in log units, about +/- 8 % a step
POPSIZE = 6  # few candidates a generation: each costs seconds of speech on a CPU


@dataclass(frozen=True)
class Scores:
    similarity: float
    word_error: float
    naturalness: float | None = None  # measured on the held-out sentences only

    @property
    def natural(self) -> float:
        """The naturalness, which these scores must have measured."""
        if self.naturalness is None:
            raise ValueError("these scores did not measure naturalness")
        return self.naturalness

    @property
    def objective(self) -> float:
        return self.similarity - WORD_ERROR_WEIGHT * self.word_error


@dataclass
class FitResult:
    profile: dict  # the fitted profile, or the start when nothing beat it held-out
    similarity: float  # held-out scores of ``profile``
    word_error: float
    naturalness: float
    start: Scores  # the start's held-out scores
    improved: bool
    evaluations: int
    seconds: float
    trace: list[tuple[float, float]] = field(default_factory=list)  # (seconds, best training objective)


def profile_fit(
    *,
    reference: np.ndarray,
    sample_rate: int,
    start: dict,
    speak: Callable[[dict, str], tuple[np.ndarray, int]],
    progress: Callable[[float], None],
    budget_seconds: float,
) -> FitResult:
    """Fit a Kokoro profile to ``reference`` within about ``budget_seconds``; see the module doc.
    ``start`` must be a Kokoro profile (``engine.kokoro_profile``); raises ``ProfileError``."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # cma warns that it cannot plot without matplotlib
        import cma

    t0 = time.monotonic()
    begin = kp.parse(start)
    ref = measure.speaker_embedding(reference, sample_rate)

    def score(profile: dict, sentences: list[str], *, natural: bool = False) -> Scores:
        audio, errors = [], []
        rate = sample_rate
        for text in sentences:
            x, rate = speak(profile, text)
            audio.append(np.asarray(x, dtype=np.float64))
            errors.append(measure.word_error(text, audio[-1], rate))
        joined = np.concatenate(audio) if audio else np.zeros(0)
        similarity = measure.embedding_similarity(ref, measure.speaker_embedding(joined, rate))
        return Scores(
            round(similarity, 4),
            round(float(np.mean(errors)), 4),
            round(measure.naturalness(joined, rate), 3) if natural else None,
        )

    def candidate(x: np.ndarray) -> dict:
        offset = np.clip(x[:DIRECTIONS], -kp.OFFSET_LIMIT, kp.OFFSET_LIMIT)
        f0 = float(np.clip(math.exp(x[DIRECTIONS]), *kp.F0_SCALE_RANGE))
        return kp.KokoroProfile(begin.timbre, begin.prosody, tuple(offset), f0, begin.speed).to_json()

    start_profile = begin.to_json()
    start_held = score(start_profile, HELD_OUT, natural=True)
    held_cost = time.monotonic() - t0  # what judging one finalist costs
    progress(0.05)

    x0 = np.zeros(DIRECTIONS + 1)
    x0[: len(begin.offset)] = begin.offset
    x0[DIRECTIONS] = math.log(begin.f0_scale)
    # The F0 scale gets its own step: the same step as a timbre direction would be an octave.
    stds = np.r_[np.ones(DIRECTIONS), LOG_F0_SIGMA / SIGMA0]
    lo = np.r_[np.full(DIRECTIONS, -kp.OFFSET_LIMIT), math.log(kp.F0_SCALE_RANGE[0])]
    hi = np.r_[np.full(DIRECTIONS, kp.OFFSET_LIMIT), math.log(kp.F0_SCALE_RANGE[1])]
    es = cma.CMAEvolutionStrategy(
        x0,
        SIGMA0,
        {"CMA_stds": stds, "bounds": [lo, hi], "popsize": POPSIZE, "seed": 13, "verbose": -9},
    )
    finalists_n = FINALISTS if budget_seconds >= SHORT_BUDGET_SECONDS else 1
    search_until = t0 + budget_seconds - finalists_n * held_cost
    tried: list[tuple[float, dict]] = [(score(start_profile, TRAINING).objective, start_profile)]
    trace = [(time.monotonic() - t0, tried[0][0])]
    evaluations = 1
    while time.monotonic() < search_until and not es.stop():
        xs = es.ask()
        losses = []
        for x in xs:
            if time.monotonic() >= search_until:
                break
            profile = candidate(np.asarray(x))
            objective = score(profile, TRAINING).objective
            tried.append((objective, profile))
            losses.append(-objective)
            evaluations += 1
            trace.append((time.monotonic() - t0, max(o for o, _ in tried)))
            progress(min(0.9, 0.05 + 0.85 * (time.monotonic() - t0) / max(1.0, search_until - t0)))
        if len(losses) < len(xs):
            break  # out of time mid-generation: CMA-ES wants whole generations
        es.tell(xs, losses)

    best = start_profile, start_held
    finalists = [p for _, p in sorted(tried, key=lambda t: -t[0]) if p is not start_profile][:finalists_n]
    for profile in finalists:
        held = score(profile, HELD_OUT, natural=True)
        if held.objective > best[1].objective and held.natural >= start_held.natural - NATURALNESS_SLACK:
            best = profile, held
    progress(1.0)
    profile, held = best
    return FitResult(
        profile=profile,
        similarity=held.similarity,
        word_error=held.word_error,
        naturalness=held.natural,
        start=start_held,
        improved=profile is not start_profile,
        evaluations=evaluations,
        seconds=round(time.monotonic() - t0, 1),
        trace=trace,
    )
