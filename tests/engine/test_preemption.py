"""Pre-emption at the engine (engine/slots.py), with the real engine on one place: a newcomer's
first chunk does not wait for the flood's running chunk, and the flood hears nothing odd."""

from __future__ import annotations

import re
import threading

import pytest

from engine.client import Audio, Done, EngineClient, Progress, Words
from tests.audio_checks import pcm_to_wav, rms_dbfs, wav_info

pytestmark = [pytest.mark.engine, pytest.mark.timeout(300)]

MALE = "EN-MALE-1-NEUTRAL"
# Long sentences: each chunk of the flood keeps the place for a while.
FLOOD_TEXT = " ".join(
    f"Sentence number {n} is a rather long one, so that the engine keeps working on it for quite a while."
    for n in range(1, 9)
)
NEWCOMER_TEXT = "Hello there. This is the other account, asking for one short thing."
TEMPERATURE = 0.1  # little variation, so a take's length is nearly the same each time


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


class _Stream:
    """One request's events, in order, and per chunk its audio."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.events: list = []
        self.chunk = 0  # the chunk whose audio comes now (the last Progress's)
        self.audio: dict[int, bytearray] = {}
        self.words: dict[int, list[str]] = {}


def _run(client: EngineClient, stream: _Stream, text: str, tenant: str, log: list, lock: threading.Lock, on_audio=None):
    for event in client.synthesize(text, MALE, tenant=tenant, temperature=TEMPERATURE):
        with lock:
            stream.events.append(event)
            if isinstance(event, Progress) and event.chunk:
                stream.chunk = event.chunk
            elif isinstance(event, Audio):
                log.append((stream.name, stream.chunk))
                stream.audio.setdefault(stream.chunk, bytearray()).extend(event.pcm)
            elif isinstance(event, Words):
                stream.words.setdefault(event.chunk, []).extend(w.text for w in event.words)
        if isinstance(event, Audio) and on_audio is not None:
            on_audio(stream)


def test_a_newcomers_first_audio_comes_before_the_floods_running_chunk_and_the_flood_is_whole(start_engine):
    eng = start_engine(ENGINE_CONCURRENCY="1", ENGINE_BACKENDS="piper")
    log: list[tuple[str, int]] = []  # (stream, chunk) of every audio frame, as they arrive
    lock = threading.Lock()
    with EngineClient(eng.url, timeout=120) as c:
        alone = _Stream("alone")
        _run(c, alone, FLOOD_TEXT, "account:1", [], lock)  # also loads the model
    alone_done = alone.events[-1]
    assert isinstance(alone_done, Done)

    flood = [_Stream("flood-1"), _Stream("flood-2")]
    go = threading.Event()
    seen: dict[str, int] = {}  # when the newcomer is sent: each flood stream's last chunk with audio

    def trigger(stream: _Stream) -> None:
        # A long chunk of the flood has just ended: the other flood request's next one now runs.
        with lock:
            if stream.chunk >= 3 and not go.is_set():
                seen.update({s.name: max(s.audio, default=0) for s in flood})
                go.set()

    def speak(stream: _Stream) -> None:
        with EngineClient(eng.url, timeout=120) as client:
            _run(client, stream, FLOOD_TEXT, "account:1", log, lock, on_audio=trigger)

    threads = [threading.Thread(target=speak, args=(s,)) for s in flood]
    for thread in threads:
        thread.start()
    try:
        assert go.wait(120), "the flood never got to its third chunk"
        with lock:
            sent_at = len(log)
        newcomer = _Stream("new")
        with EngineClient(eng.url, timeout=120) as c:
            _run(c, newcomer, NEWCOMER_TEXT, "account:2", log, lock)
    finally:
        for thread in threads:
            thread.join()

    # After the newcomer was sent, its first audio came before any audio of a flood chunk not
    # begun by then: the chunk that was running did not make it wait.
    after = [(name, chunk) for name, chunk in log[sent_at:] if name == "new" or chunk > seen.get(name, 0)]
    assert after[0][0] == "new", after[:5]
    assert isinstance(newcomer.events[-1], Done)
    said = [w for chunk in sorted(newcomer.words) for w in newcomer.words[chunk]]
    assert _words(" ".join(said)) == _words(NEWCOMER_TEXT)

    # Every flood request is whole and said once: every word in order, one take per chunk, as
    # long as the text alone, each chunk audible.
    for stream in flood:
        done = stream.events[-1]
        assert isinstance(done, Done) and not done.truncated
        chunks = sorted(stream.audio)
        assert chunks == sorted(alone.audio) == sorted(stream.words)
        heard = [w for chunk in chunks for w in stream.words[chunk]]
        assert _words(" ".join(heard)) == _words(FLOOD_TEXT)
        pcm = b"".join(bytes(stream.audio[chunk]) for chunk in chunks)
        assert wav_info(pcm_to_wav(pcm))[3] == pytest.approx(done.seconds, abs=0.01)
        assert done.seconds == pytest.approx(alone_done.seconds, rel=0.1)
        for chunk in chunks:
            assert len(stream.audio[chunk]) / len(alone.audio[chunk]) == pytest.approx(1.0, rel=0.25), chunk
            assert rms_dbfs(bytes(stream.audio[chunk])) > -35, chunk
