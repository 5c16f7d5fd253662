"""A script (engine/README.md, "Script") through a real engine: IPA it cannot say refused before
any stream, and a resumed script numbering its chunks as the whole one did."""

from __future__ import annotations

import pytest

from engine.client import Done, EngineClient, EngineError, Progress

pytestmark = [pytest.mark.engine, pytest.mark.timeout(300)]


@pytest.fixture
def engine(engine_url):
    with EngineClient(engine_url, timeout=120.0) as connected:
        yield connected


TEXT = "<speak>One. <break time='300ms'/> Two three.</speak>"
SCRIPT = [
    {"say": "One.", "start": 7, "end": 11},
    {"pause": 0.3, "at": 12},
    {"say": "Two three.", "start": 33, "end": 43},
]


@pytest.mark.parametrize("voice", ["EN-MALE-1-NEUTRAL", "EN-FEMALE-1-NEUTRAL"])
def test_ipa_the_voice_cannot_say_is_refused_before_any_stream(engine, voice):
    script = [{"say": "x", "start": 0, "end": 1, "ipa": "tɛ§t"}]
    with pytest.raises(EngineError) as refused:
        list(engine.synthesize("x", voice, script=script))
    assert refused.value.code == "invalid_ipa" and "§" in refused.value.message


def test_a_resumed_script_numbers_its_chunks_as_the_whole_one(engine):
    whole = [
        e.chunk
        for e in engine.synthesize(TEXT, "EN-MALE-1-NEUTRAL", script=SCRIPT)
        if isinstance(e, Progress) and e.chunk
    ]
    events = list(engine.synthesize(TEXT, "EN-MALE-1-NEUTRAL", script=SCRIPT, start_chunk=1))
    resumed = [e.chunk for e in events if isinstance(e, Progress) and e.chunk]
    assert whole == [1, 2] and resumed == [2] and isinstance(events[-1], Done)
