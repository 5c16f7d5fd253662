"""Markup (issue 17, docs/timing.md "Markup") through the running stack: web, worker, engine. What
a listener hears: a <break> is that much silence where it stands, <prosody rate> changes the pace,
<sub> says its alias, <phoneme> its sounds; bad markup is a 400 naming where, nothing stored or
charged."""

import base64

import httpx
import numpy as np
import pytest

from billing.models import Wallet
from billing.pricing import speech_cost
from studio.models import Generation
from tests.audio_checks import transcribe, wav_info, wav_to_array
from tests.test_api_stack import api, speech  # noqa: F401  # the fixture, and the request body

pytestmark = pytest.mark.stack

SILENCE_LEVEL = 10 ** (-40 / 20)  # -40 dBFS: quieter than any speech sound, louder than none
BREAK = '<speak>Hello there. <break time="1s"/> General Kenobi.</speak>'
BAD = '<speak>Hello there.\n  <break time="1s"> General Kenobi.</speak>'  # <break> never closed


def _silent_runs(wav: bytes) -> list[tuple[float, float]]:
    """(start, length) in seconds of each run of samples under SILENCE_LEVEL, inside the audio
    (not the leading or trailing silence)."""
    x, rate = wav_to_array(wav)
    loud = np.flatnonzero(np.abs(x) > SILENCE_LEVEL)
    gaps = np.flatnonzero(np.diff(loud) > 1)
    return [(loud[g] / rate, (loud[g + 1] - loud[g]) / rate) for g in gaps]


def _timed(api, builtin_voices, text: str, voice: str = "EN-FEMALE-1-NEUTRAL") -> dict:  # noqa: F811
    response = api.post("/api/v1/tts_with_timestamps", json=speech(builtin_voices, text, voice))
    assert response.status_code == 200, response.text
    data = response.json()["data"]
    data["audio"] = base64.b64decode(data["audio_base64"])
    return data


@pytest.mark.parametrize("voice", ["EN-FEMALE-1-NEUTRAL", "EN-MALE-1-NEUTRAL"])
def test_a_break_is_a_second_of_silence_where_it_stands_and_is_billed(api, builtin_voices, voice):  # noqa: F811
    data = _timed(api, builtin_voices, BREAK, voice)
    words = data["words"]
    assert [BREAK[w["char_start"] : w["char_end"]] for w in words] == ["Hello", "there", "General", "Kenobi"]
    longest_start, longest = max(_silent_runs(data["audio"]), key=lambda run: run[1])
    assert longest == pytest.approx(1.0, abs=0.05)
    # Where it stands: after "there", before "General".
    assert words[1]["end"] - 0.1 <= longest_start <= words[2]["start"]
    generation = Generation.objects.get()
    seconds = wav_info(data["audio"])[3]
    assert generation.text == BREAK and generation.script[1] == {"pause": 1.0, "at": 20}
    assert generation.seconds == pytest.approx(seconds, abs=0.01)
    assert generation.cost == speech_cost(round(seconds * 24_000) * 2) and seconds > 2.0


def test_malformed_markup_is_a_400_naming_its_line_and_column_nothing_stored_or_charged(
    api,  # noqa: F811
    builtin_voices,
    web_url,
    user,
):
    before = Wallet.objects.get(user=user).balance
    response = api.post("/api/v1/tts_non_stream", json=speech(builtin_voices, BAD))
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False and body["code"] == "VALIDATION_ERROR"
    assert body["message"] == "Markup error at line 2, column 38: mismatched tag"

    openai_answer = httpx.post(
        f"{web_url}/v1/audio/speech",
        headers={"Authorization": f"Bearer {api.secret}"},
        json={"model": "tts-1", "voice": "alloy", "input": '<speak>Hi <prosody rate="warp">there</prosody></speak>'},
        timeout=60,
    )
    assert openai_answer.status_code == 400
    error = openai_answer.json()["error"]
    assert error["type"] == "invalid_request_error" and "line 1, column 11" in error["message"]
    assert not Generation.objects.exists()
    assert Wallet.objects.get(user=user).balance == before


def test_slow_prosody_is_longer_than_the_voice_s_own_pace(api, builtin_voices):  # noqa: F811
    text = "We will meet at the station at noon and take the train to the city."
    plain = wav_info(_timed(api, builtin_voices, text)["audio"])[3]
    slow = _timed(api, builtin_voices, f'<speak><prosody rate="slow">{text}</prosody></speak>')
    assert wav_info(slow["audio"])[3] > 1.2 * plain
    assert "station" in transcribe(slow["audio"])


def test_sub_is_heard_as_its_alias_and_timed_on_the_written_word(api, builtin_voices):  # noqa: F811
    text = '<speak>The <sub alias="World Wide Web">WWW</sub> is big.</speak>'
    data = _timed(api, builtin_voices, text, "EN-MALE-1-NEUTRAL")
    heard = transcribe(data["audio"]).split()
    assert sum(word in heard for word in ("world", "wide", "web")) >= 2, heard
    assert "WWW" in {text[w["char_start"] : w["char_end"]] for w in data["words"]}


def test_phoneme_is_spoken_and_timed_on_the_written_word(api, builtin_voices):  # noqa: F811
    without = wav_info(_timed(api, builtin_voices, "I like soup.", "EN-MALE-1-NEUTRAL")["audio"])[3]
    text = '<speak>I like <phoneme alphabet="ipa" ph="təmˈeɪɾoʊ">tomato</phoneme> soup.</speak>'  # noqa: RUF001  # IPA
    data = _timed(api, builtin_voices, text, "EN-MALE-1-NEUTRAL")
    assert wav_info(data["audio"])[3] > without + 0.3
    assert [text[w["char_start"] : w["char_end"]] for w in data["words"]] == ["I", "like", "tomato", "soup"]
