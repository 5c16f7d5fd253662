"""The engine as a user of it would notice: real processes, real audio,
checked by ear (pocketsphinx) and by pitch."""

from __future__ import annotations

import contextlib
import json
import time

import httpx
import pytest

from engine.client import Audio, Done, EngineClient, EngineError, EngineFailure, EngineUnavailable, Progress
from engine.protocol import CONTENT_TYPE, decode_events
from tests.audio_checks import base_f0, median_f0, pcm_to_wav, rms_dbfs, transcribe, wav_info, word_error_rate

pytestmark = [pytest.mark.engine, pytest.mark.timeout(300)]

MALE, FEMALE = "EN-MALE-1-NEUTRAL", "EN-FEMALE-1-NEUTRAL"
SENTENCES = [
    "The weather was cold and clear, and the children played outside until dark.",
    "My brother has a small garden with green beans and tomatoes.",
]
THREE = "Good morning to you. The meeting starts at ten o'clock. Please bring your notes."
LONG = " ".join(
    f"This is sentence number {i} of a rather long text that keeps the engine busy for a while." for i in range(1, 41)
)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def collect(client: EngineClient, text: str, voice: str, **kw):
    events = list(client.synthesize(text, voice, **kw))
    pcm = b"".join(e.pcm for e in events if isinstance(e, Audio))
    return events, pcm


def post(url: str, body, raw: bool = False) -> httpx.Response:
    content = body if raw else json.dumps(body)
    return httpx.post(url + "/synthesize", content=content, headers={"content-type": "application/json"}, timeout=60)


# --- discovery ---------------------------------------------------------------------


def test_health_and_voices(client):
    h = client.health()
    assert h["status"] == "ok" and h["engine"] == "piper-cpu+kokoro-cpu"
    assert isinstance(h["warm"], bool) and h["active"] == h["waiting"] == h["requests"] == 0
    voices = {v["name"]: v for v in client.voices()}
    assert voices[MALE]["gender"] == "male"
    assert voices[FEMALE]["gender"] == "female"
    for v in voices.values():
        assert set(v) >= {"name", "gender", "language", "description", "engine"}
        assert v["language"] in ("en-US", "ja-JP")
    assert voices[MALE]["engine"] == "piper-cpu" and voices[FEMALE]["engine"] == "kokoro-cpu"
    assert set(h["voices"]) == set(voices) and h["profiles"] == ["world", "kokoro"]


# --- what a listener hears ----------------------------------------------------------


@pytest.fixture(scope="module")
def renditions(engine_url) -> dict[str, list[tuple[str, bytes, list]]]:
    """Each voice saying each test sentence once (shared by the audio tests)."""
    heard: dict[str, list[tuple[str, bytes, list]]] = {}
    with EngineClient(engine_url, timeout=120) as c:
        for voice in (MALE, FEMALE):
            heard[voice] = [(text, *collect(c, text, voice)[::-1]) for text in SENTENCES]
    return heard


@pytest.mark.parametrize("voice", [MALE, FEMALE])
def test_audio_format_duration_and_level(renditions, voice):
    for text, pcm, events in renditions[voice]:
        assert len(pcm) % 2 == 0 and len(pcm) > 0
        rate, channels, width, seconds = wav_info(pcm_to_wav(pcm))
        assert (rate, channels, width) == (24000, 1, 2)
        done = events[-1]
        assert isinstance(done, Done) and not done.truncated
        assert done.seconds == pytest.approx(len(pcm) / 48000, abs=0.002)
        words = len(text.split())
        # Natural read speech: roughly 1.5 to 4.5 words per second.
        assert words / 4.5 < seconds < words / 1.5 + 1.0, (voice, seconds)
        level = rms_dbfs(pcm)
        assert -32 < level < -10, (voice, level)


@pytest.mark.parametrize("voice", [MALE, FEMALE])
def test_speech_is_intelligible(renditions, voice):
    for text, pcm, _ in renditions[voice]:
        heard = transcribe(pcm_to_wav(pcm))
        wer = word_error_rate(text, heard)
        print(f"{voice}: WER {wer:.2f} heard {heard!r}")
        assert wer <= 0.35, (voice, text, heard)


def test_pitch_matches_the_voice_gender(renditions):
    male = median_f0(pcm_to_wav(b"".join(p for _, p, _ in renditions[MALE])))
    female = median_f0(pcm_to_wav(b"".join(p for _, p, _ in renditions[FEMALE])))
    print(f"median F0: male {male:.1f} Hz, female {female:.1f} Hz")
    # Piper's prosody noise moves each median by some 20 Hz from run to run; the ratio is steadier.
    assert 70 < male < 165
    assert 155 < female < 260
    assert female / male > 1.2


def test_voices_sound_different_but_say_the_same(renditions):
    # Same text, same engine: the female voice is not just the male one.
    m = renditions[MALE][0][1]
    f = renditions[FEMALE][0][1]
    assert m != f
    assert median_f0(pcm_to_wav(f)) > 1.25 * median_f0(pcm_to_wav(m))


# --- progress and limits --------------------------------------------------------------


def test_progress_counts_chunks_with_growing_seconds(client):
    events, pcm = collect(client, THREE, MALE)
    generating = [e for e in events if isinstance(e, Progress) and e.stage == "generating"]
    assert [(e.chunk, e.chunks) for e in generating] == [(1, 3), (2, 3), (3, 3)]
    seconds = [e.seconds for e in generating]
    assert seconds[0] == 0.0
    assert seconds[0] < seconds[1] < seconds[2]
    # Each progress frame reports exactly the audio sent before it.
    sent = 0
    for e in events:
        if isinstance(e, Audio):
            sent += len(e.pcm)
        elif isinstance(e, Progress) and e.stage == "generating":
            assert e.seconds == pytest.approx(sent / 48000, abs=0.002)
    # Audio follows each progress frame, and done is last and consistent.
    kinds = [type(e).__name__ for e in events if not (isinstance(e, Progress) and e.stage == "warming_up")]
    assert kinds[0] == "Progress" and kinds[1] == "Audio" and kinds[-1] == "Done"
    assert events[-1].seconds == pytest.approx(len(pcm) / 48000, abs=0.002)
    assert events[-1].seconds > seconds[2]


def test_max_seconds_truncates(client):
    events, pcm = collect(client, THREE, FEMALE, max_seconds=1.5)
    done = events[-1]
    assert isinstance(done, Done) and done.truncated is True
    assert len(pcm) == 1.5 * 48000
    assert done.seconds == pytest.approx(1.5, abs=0.001)
    # It stopped early: fewer chunks than the text has.
    chunks = [e.chunk for e in events if isinstance(e, Progress) and e.stage == "generating"]
    assert max(chunks) < 3
    # A limit the text does not reach changes nothing.
    events, pcm = collect(client, "Short and sweet.", MALE, max_seconds=30)
    assert events[-1].truncated is False and 0.5 < len(pcm) / 48000 < 3


def test_temperature_extremes_still_speak(client):
    for t in (0.1, 1.0):
        events, pcm = collect(client, SENTENCES[1], MALE, temperature=t)
        assert isinstance(events[-1], Done)
        assert word_error_rate(SENTENCES[1], transcribe(pcm_to_wav(pcm))) <= 0.5


# --- speed ---------------------------------------------------------------------------------


@pytest.mark.parametrize("voice", [MALE, FEMALE])
def test_speed_changes_the_pace_not_the_pitch(client, voice):
    text = SENTENCES[0]
    # Piper's least variation, so its prosody noise does not move the pitch between the takes.
    slow, fast = (pcm_to_wav(collect(client, text, voice, speed=s, temperature=0.1)[1]) for s in (0.75, 1.5))
    slow_seconds, fast_seconds = wav_info(slow)[3], wav_info(fast)[3]
    print(
        f"{voice}: 0.75 {slow_seconds:.2f} s, median F0 {median_f0(slow):.0f} Hz, base {base_f0(slow):.0f} Hz; "
        f"1.5 {fast_seconds:.2f} s, median F0 {median_f0(fast):.0f} Hz, base {base_f0(fast):.0f} Hz"
    )
    assert slow_seconds > 1.5 * fast_seconds
    # The base pitch (lower quartile): harvest's median jumps an octave on some of the short voiced
    # stretches of a hastened take (Joe at 1.5: 111-140 Hz against 112-119 Hz at 1.0).
    assert abs(base_f0(slow) - base_f0(fast)) / base_f0(fast) < 0.10


@pytest.mark.parametrize("voice", [MALE, FEMALE])
@pytest.mark.parametrize("speed", [0.5, 2.0])
def test_speed_extremes_of_the_voice_stay_intelligible(client, voice, speed):
    _, pcm = collect(client, SENTENCES[1], voice, speed=speed)
    heard = transcribe(pcm_to_wav(pcm))
    print(f"{voice} at {speed}: {len(pcm) / 48000:.2f} s, heard {heard!r}")
    # pocketsphinx hears the voices' own pace far better (<= 0.35 above): at 0.5 and 2.0 it misses
    # a third to two thirds of the words (measured 0.55-0.73 on this sentence), most still said.
    assert word_error_rate(SENTENCES[1], heard) <= 0.75


def test_speed_beyond_the_voice_is_time_stretched(client):
    # Joe speaks 0.5..2.0 himself; 0.25 and 4.0 are his 0.5 and 2.0 stretched 2x (pitch kept).
    seconds = {}
    for speed in (0.25, 0.5, 2.0, 4.0):
        events, pcm = collect(client, SENTENCES[1], MALE, speed=speed, temperature=0.1)
        assert isinstance(events[-1], Done) and events[-1].seconds == pytest.approx(len(pcm) / 48000, abs=0.002)
        seconds[speed] = len(pcm) / 48000
    print(seconds)
    assert seconds[0.25] > 1.6 * seconds[0.5] and seconds[2.0] > 1.6 * seconds[4.0]


# --- bad requests ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, code",
    [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_json"),
        ({"voice": MALE}, "invalid_text"),
        ({"text": 42, "voice": MALE}, "invalid_text"),
        ({"text": "Hello.", "voice": 7}, "invalid_voice"),
        ({"text": "", "voice": MALE}, "empty_text"),
        ({"text": "  \n ", "voice": MALE}, "empty_text"),
        ({"text": "Hello.", "voice": "EN-ROBOT-9"}, "unknown_voice"),
        ({"text": "Hello.", "voice": MALE, "temperature": "hot"}, "invalid_temperature"),
        ({"text": "Hello.", "voice": MALE, "temperature": 3.0}, "invalid_temperature"),
        ({"text": "Hello.", "voice": MALE, "max_seconds": -1}, "invalid_max_seconds"),
        ({"text": "Hello.", "voice": MALE, "max_seconds": True}, "invalid_max_seconds"),
        ({"text": "Hello.", "voice": MALE, "speed": 0.1}, "invalid_speed"),
        ({"text": "Hello.", "voice": MALE, "speed": 4.5}, "invalid_speed"),
        ({"text": "Hello.", "voice": MALE, "speed": "fast"}, "invalid_speed"),
        ({"text": "😀 🎉 ... !?", "voice": MALE}, "no_speech"),
        ({"text": "\x00\x01\x02", "voice": MALE}, "no_speech"),
    ],
)
def test_bad_requests_answer_400_json(engine_url, body, code):
    r = post(engine_url, body, raw=isinstance(body, str))
    assert r.status_code == 400
    assert r.headers["content-type"].startswith("application/json")
    data = r.json()
    assert data["code"] == code and data["message"]


def test_client_raises_engine_error_for_refusals(client):
    with pytest.raises(EngineError) as info:
        list(client.synthesize("Hello.", "EN-ROBOT-9"))
    assert info.value.code == "unknown_voice"


def test_odd_text_is_handled_safely(client, engine_url):
    odd = [
        "Control\x07 chars\x1b[31m and a\ttab, then 😀 emoji.",
        "Привет, мир. 你好。 Hello again.",
        "Supercalifragilistic" * 20 + ".",
        "[[ h ə l oʊ ]] brackets",
        "A" * 3000,
    ]
    for text in odd:
        events, pcm = collect(client, text, FEMALE, max_seconds=8)
        assert isinstance(events[-1], Done)
        assert len(pcm) > 0
    assert httpx.get(engine_url + "/health").json()["status"] == "ok"


def test_stream_content_type(engine_url):
    with httpx.stream("POST", engine_url + "/synthesize", json={"text": "Hi there.", "voice": MALE}, timeout=60) as r:
        assert r.status_code == 200
        assert r.headers["content-type"] == CONTENT_TYPE
        events = decode_events(r.read())
    assert isinstance(events[-1], Done)


# --- cancellation, warm state, idle unload ------------------------------------------------


def _wait_for(predicate, timeout: float, interval: float = 0.1) -> float | None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    return None


def test_client_disconnect_stops_synthesis(client, engine_url):
    # Piper's; Kokoro's own is in test_kokoro_engine.py.
    health = lambda: httpx.get(engine_url + "/health", timeout=5).json()  # noqa: E731
    assert health()["requests"] == 0
    gen = client.synthesize(LONG, MALE)
    received = 0
    started = time.monotonic()
    with contextlib.closing(gen):
        for ev in gen:
            if isinstance(ev, Audio):
                received += len(ev.pcm)
                break
        assert health()["requests"] == 1  # it is really working on our text
    # 40 sentences need some ten seconds of CPU; a cancelled synthesis frees
    # its slot within about one chunk.
    took = _wait_for(lambda: health()["requests"] == 0, timeout=4.0)
    assert took is not None, "the engine kept synthesising after the client left"
    assert time.monotonic() - started < 8.0
    assert received > 0
    # And the engine is fine afterwards.
    events, pcm = collect(client, "Still here.", MALE)
    assert isinstance(events[-1], Done) and pcm


def test_cold_start_warms_up_once(start_engine):
    eng = start_engine()
    assert eng.health()["warm"] is False
    with EngineClient(eng.url, timeout=120) as c:
        first = list(c.synthesize("Hello there.", MALE))
        assert first[0] == Progress("warming_up")
        assert isinstance(first[1], Progress) and first[1].stage == "generating"
        assert eng.health()["warm"] is True
        second = list(c.synthesize("Hello again.", MALE))
        assert all(not (isinstance(e, Progress) and e.stage == "warming_up") for e in second)
        assert second[0] == Progress("generating", 1, 1, 0.0)


def test_idle_engine_unloads_and_warms_up_again(start_engine):
    eng = start_engine(ENGINE_IDLE_UNLOAD_SECONDS="2")
    with EngineClient(eng.url, timeout=120) as c:
        events = list(c.synthesize("Wake up.", MALE))
        assert events[0] == Progress("warming_up")
        assert eng.health()["warm"] is True
        took = _wait_for(lambda: eng.health()["warm"] is False, timeout=8.0, interval=0.25)
        assert took is not None, "the model was not unloaded after 2 s idle"
        again = list(c.synthesize("Wake up again.", MALE))
        assert again[0] == Progress("warming_up")
        assert isinstance(again[-1], Done)


def test_concurrency_is_bounded_and_both_finish(start_engine):
    import threading

    eng = start_engine(ENGINE_CONCURRENCY="1")
    results, peaks = {}, []

    def run(name):
        with EngineClient(eng.url, timeout=120) as c:
            results[name] = list(c.synthesize(THREE, MALE))

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        h = eng.health()
        peaks.append(h["active"])
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert max(peaks) <= 1
    assert all(isinstance(r[-1], Done) for r in results.values())


def test_one_tenants_many_requests_do_not_hold_back_another_tenants_one(start_engine):
    """One place on the engine; one account has three long texts under way when another asks for a
    short one: the places go by turns between accounts, chunk by chunk, so the short one is done
    long before any of the long ones (with a place per request, it would wait for all three)."""
    import threading

    eng = start_engine(ENGINE_CONCURRENCY="1")
    finished: list[str] = []

    def run(name: str, text: str, tenant: str) -> None:
        with EngineClient(eng.url, timeout=120) as c:
            events = list(c.synthesize(text, MALE, tenant=tenant))
        assert isinstance(events[-1], Done)
        finished.append(name)

    flood = [threading.Thread(target=run, args=(f"long{i}", LONG, "account:1")) for i in range(3)]
    for thread in flood:
        thread.start()
    assert _wait_for(lambda: eng.health()["requests"] == 3, timeout=30) is not None
    run("short", "Hello there, how are you today?", "account:2")
    for thread in flood:
        thread.join()
    assert finished[0] == "short", finished


# --- unavailability -------------------------------------------------------------------------


def test_client_raises_unavailable_on_closed_port():
    c = EngineClient(f"http://127.0.0.1:{free_port()}", timeout=3)
    with pytest.raises(EngineUnavailable):
        c.health()
    with pytest.raises(EngineUnavailable) as info:
        list(c.synthesize("Hello.", MALE))
    assert isinstance(info.value, EngineFailure)
    assert not isinstance(info.value, EngineError)
