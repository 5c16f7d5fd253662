"""The engine's request models and settings, in-process (no engine started): each refusal's code
and message, and strict settings that name the variable at fault."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.schemas import BadRequest, synthesis_request_parse
from engine.settings import Settings
from strictenv import ImproperlyConfiguredEnv

ROOT = Path(__file__).resolve().parents[2]
MALE = "EN-MALE-1-NEUTRAL"
HELLO = {"text": "Hello.", "voice": MALE}
TOO_MANY_CHARS = 20


def refusal(body) -> tuple[str, str]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    with pytest.raises(BadRequest) as info:
        synthesis_request_parse(raw, max_text_chars=TOO_MANY_CHARS)
    return info.value.code, info.value.message


@pytest.mark.parametrize(
    "body, code, message",
    [
        (b"{not json", "bad_json", "the request body must be a JSON object"),
        (b"\xff\xfe", "bad_json", "the request body must be a JSON object"),
        ([1, 2], "bad_json", "the request body must be a JSON object"),
        ({"voice": MALE}, "invalid_text", "'text' is required and must be a string"),
        ({"text": None, "voice": MALE}, "invalid_text", "'text' is required and must be a string"),
        ({"text": "Hello."}, "invalid_voice", "'voice' is required (unless 'profile' is given) and must be a string"),
        ({"text": "Hello.", "voice": "  "}, "invalid_voice", "'voice' is required (unless 'profile' is given)"),
        ({**HELLO, "max_seconds": "2"}, "invalid_max_seconds", "'max_seconds' must be a number or null"),
        ({**HELLO, "max_seconds": True}, "invalid_max_seconds", "'max_seconds' must be a number or null"),
        ({**HELLO, "max_seconds": 0}, "invalid_max_seconds", "'max_seconds' must be greater than 0"),
        ({**HELLO, "temperature": "hot"}, "invalid_temperature", "'temperature' must be a number or null"),
        ({**HELLO, "temperature": 3.0}, "invalid_temperature", "'temperature' must be between 0.1 and 1.0"),
        ({**HELLO, "start_chunk": -1}, "invalid_start_chunk", "'start_chunk' must be a whole number from 0"),
        ({**HELLO, "start_chunk": True}, "invalid_start_chunk", "'start_chunk' must be a whole number from 0"),
        ({**HELLO, "start_chunk": 1.0}, "invalid_start_chunk", "'start_chunk' must be a whole number from 0"),
        ({**HELLO, "tenant": ""}, "invalid_tenant", "'tenant' must be a string of 1 to 100 characters"),
        ({**HELLO, "tenant": "t" * 101}, "invalid_tenant", "'tenant' must be a string of 1 to 100 characters"),
        ({**HELLO, "tenant": 5}, "invalid_tenant", "'tenant' must be a string of 1 to 100 characters"),
        ({**HELLO, "verify": 1}, "invalid_verify", "'verify' must be true or false"),
        ({**HELLO, "verify": "yes"}, "invalid_verify", "'verify' must be true or false"),
        ({**HELLO, "whole": 1}, "invalid_whole", "'whole' must be true or false"),
        ({**HELLO, "whole": "yes"}, "invalid_whole", "'whole' must be true or false"),
        ({"text": " \n ", "voice": MALE}, "empty_text", "'text' is empty"),
        ({"text": "x" * 21, "voice": MALE}, "text_too_long", "'text' is longer than 20 characters"),
        # Several faults: the first, in the order the fields are checked.
        ({"text": 1, "voice": 2, "tenant": ""}, "invalid_text", "'text' is required"),
        ({**HELLO, "start_chunk": -1, "max_seconds": 0}, "invalid_start_chunk", "'start_chunk'"),
    ],
)
def test_each_fault_is_refused_with_its_code_and_message(body, code, message):
    got_code, got_message = refusal(body)
    assert got_code == code and got_message.startswith(message), (body, got_code, got_message)


def test_nan_is_not_a_number():
    assert refusal(b'{"text": "Hi.", "voice": "X", "max_seconds": NaN}')[0] == "invalid_max_seconds"


def test_a_valid_body_keeps_its_values_and_ignores_unknown_fields():
    body = {**HELLO, "max_seconds": 2, "temperature": 0.5, "start_chunk": 1, "tenant": "a", "verify": True}
    body = {**body, "whole": True}
    checked = synthesis_request_parse(json.dumps({**body, "language": "ja", "extra": 1}).encode(), max_text_chars=99)
    assert (checked.max_seconds, checked.temperature, checked.start_chunk) == (2.0, 0.5, 1)
    assert (checked.tenant, checked.verify, checked.language, checked.whole) == ("a", True, "ja", True)


def test_a_profile_makes_the_voice_optional_and_ignored():
    checked = synthesis_request_parse(json.dumps({"text": "Hi.", "voice": 7, "profile": {}}).encode(), max_text_chars=9)
    assert checked.voice is None and checked.profile == {}


@pytest.mark.parametrize(
    "name, value",
    [
        ("ENGINE_THREADS", "two"),
        ("ENGINE_THREADS", "0"),
        ("ENGINE_CONCURRENCY", "0"),
        ("ENGINE_IDLE_UNLOAD_SECONDS", "soon"),
        ("ENGINE_MAX_TEXT_CHARS", "1e4"),
        ("ENGINE_MAX_CLIP_SECONDS", "0"),
        ("ENGINE_PORT", "http"),
        ("ENGINE_LOG_LEVEL", "loud"),
        ("ENGINE_BACKENDS", "piper,kokro"),
        ("ENGINE_BACKENDS", "piper,piper"),
        ("ENGINE_BACKENDS", ","),
    ],
)
def test_a_bad_setting_is_refused_with_its_name(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfiguredEnv, match=name):
        Settings.from_env()


def test_settings_defaults_and_values(monkeypatch, tmp_path):
    for name, value in {
        "ENGINE_THREADS": "1",
        "ENGINE_CONCURRENCY": "3",
        "ENGINE_BACKENDS": " Kokoro ",
        "KOKORO_JA_CACHE": str(tmp_path),
        "ENGINE_LOG_LEVEL": "debug",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()
    assert (settings.threads, settings.concurrency, settings.backends) == (1, 3, ("kokoro",))
    assert (settings.kokoro_cache, settings.log_level, settings.port) == (tmp_path, "debug", 8001)
    assert (settings.idle_unload_seconds, settings.max_text_chars, settings.max_clip_seconds) == (600.0, 20000, 30.0)


def test_the_engine_side_imports_no_django():
    """The engine's service modules load without Django (an engine machine has none)."""
    code = "import sys, engine.app, engine.settings; sys.exit('django' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=False).returncode == 0
