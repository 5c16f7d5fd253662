"""Reference recordings for the voice-clone tests, made by the tests themselves from Debian's
Festival voices (recordings of real speakers), never from the engine's own voices."""

import io
import subprocess
import tempfile
from functools import cache
from pathlib import Path

import numpy as np
import soundfile
from pydub import AudioSegment

FESTIVAL_VOICES = {
    "slt": "voice_cmu_us_slt_arctic_hts",  # female, US
    "kal": "voice_kal_diphone",  # male, US
}
READING = (
    "Please call Stella. Ask her to bring these things with her from the store: "
    "six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack for her brother Bob."
)


@cache
def festival_speech(speaker: str, text: str = READING) -> tuple[np.ndarray, int]:
    """Festival's text2wave speaking `text`: float samples in [-1, 1] and their rate."""
    with tempfile.TemporaryDirectory() as folder:
        source, out = Path(folder) / "text.txt", Path(folder) / "speech.wav"
        source.write_text(text)
        subprocess.run(
            ["text2wave", "-eval", f"({FESTIVAL_VOICES[speaker]})", str(source), "-o", str(out)],
            check=True,
            capture_output=True,
        )
        samples, rate = soundfile.read(out, dtype="float64")
    return samples, rate


def clip(speaker: str, seconds: float) -> tuple[np.ndarray, int]:
    samples, rate = festival_speech(speaker)
    assert len(samples) / rate >= seconds, "the reading is shorter than the clip asked for"
    return samples[: int(seconds * rate)], rate


def to_wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def to_mp3(samples: np.ndarray, rate: int) -> bytes:
    segment = AudioSegment.from_file(io.BytesIO(to_wav(samples, rate)), format="wav")
    buffer = io.BytesIO()
    segment.export(buffer, format="mp3", bitrate="64k")
    return buffer.getvalue()


def resampled(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    positions = np.arange(int(len(samples) * new_rate / rate)) * rate / new_rate
    return np.interp(positions, np.arange(len(samples)), samples)


def padded(samples: np.ndarray, rate: int, seconds: float) -> np.ndarray:
    silence = np.zeros(int(seconds * rate))
    return np.concatenate([silence, samples, silence])


def noise(seconds: float, rate: int = 24_000, level: float = 0.3) -> np.ndarray:
    return np.random.default_rng(3).uniform(-level, level, int(seconds * rate))
