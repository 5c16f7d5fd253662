"""/v1's contract without the stack's processes: OpenAI's error shape and statuses for the requests
refused before anything is queued, the model list, the voices with their OpenAI names."""

import json

import pytest

from accounts.services import token_create
from api.openai.errors import OPENAI_ERROR_BY_CODE
from core.errors import STATUS_BY_CODE
from studio.models import Generation
from voices.builtin import BUILTIN_BY_NAME, OPENAI_VOICE_ALIASES, builtin_for_openai_voice


@pytest.fixture
def api(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token_create(user=user, name='tests')[1]}"
    return client


def speak(client, **fields):
    body = {"model": "tts-1", "input": "Hello there.", "voice": "alloy", **fields}
    return client.post("/v1/audio/speech", json.dumps(body), content_type="application/json")


def assert_openai_error(response, status: int, kind: str, param: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"], error
    assert error["type"] == kind, error
    if param is not None:
        assert error["param"] == param, error
    return error


def test_every_error_code_has_an_openai_type():
    assert set(OPENAI_ERROR_BY_CODE) <= set(STATUS_BY_CODE)
    assert {"VALIDATION_ERROR", "UNAUTHORIZED", "INSUFFICIENT_CREDITS", "NOT_FOUND", "TTS_RATE_LIMITED"} <= set(
        OPENAI_ERROR_BY_CODE
    )


def test_every_openai_voice_name_is_a_builtin():
    assert {"alloy", "ash", "ballad", "coral", "echo", "fable", "nova", "onyx", "sage", "shimmer", "verse"} <= set(
        OPENAI_VOICE_ALIASES
    )
    assert set(OPENAI_VOICE_ALIASES.values()) <= set(BUILTIN_BY_NAME)
    assert builtin_for_openai_voice("Nova") == BUILTIN_BY_NAME["EN-FEMALE-1-NEUTRAL"]
    assert builtin_for_openai_voice("EN-MALE-1-NEUTRAL") is None


def test_bad_requests_are_refused_in_openais_shape(api, builtin_voices, settings):
    cases = [
        ({"input": ""}, 400, "invalid_request_error", "input"),
        ({"input": "a" * (settings.TTS_MAX_TEXT_CHARS + 1)}, 400, "invalid_request_error", "input"),
        ({"speed": 0.1}, 400, "invalid_request_error", "speed"),
        ({"speed": 4.5}, 400, "invalid_request_error", "speed"),
        ({"response_format": "ogg"}, 400, "invalid_request_error", "response_format"),
        ({"stream_format": "chunks"}, 400, "invalid_request_error", "stream_format"),
        ({"model": "tts-2"}, 400, "invalid_request_error", "model"),
        ({"voice": "no-such-voice"}, 404, "invalid_request_error", "voice"),
        ({"voice": {"id": "00000000-0000-0000-0000-000000000000"}}, 404, "invalid_request_error", "voice"),
    ]
    for fields, status, kind, param in cases:
        assert_openai_error(speak(api, **fields), status, kind, param)
    assert not Generation.objects.exists()


def test_speech_needs_a_token_with_the_speech_scope(client, user, builtin_voices):
    assert_openai_error(speak(client), 401, "invalid_request_error")
    client.defaults["HTTP_AUTHORIZATION"] = "Bearer oute_wrong"
    assert_openai_error(speak(client), 401, "invalid_request_error")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token_create(user=user, name='v', scopes=['voices'])[1]}"
    assert_openai_error(speak(client), 403, "invalid_request_error")
    assert_openai_error(client.get("/v1/models"), 403, "invalid_request_error")


def test_an_empty_account_is_refused_402(api, user, builtin_voices):
    from billing.models import Wallet

    Wallet.objects.filter(user=user).update(balance=0)
    assert_openai_error(speak(api), 402, "insufficient_quota")
    assert not Generation.objects.exists()


def test_models_lists_ours_and_openais_names(api, settings):
    listed = api.get("/v1/models").json()
    assert listed["object"] == "list"
    ids = [model["id"] for model in listed["data"]]
    assert ids[0] == settings.TTS_MODEL_NAME and {"tts-1", "tts-1-hd", "gpt-4o-mini-tts"} <= set(ids)
    assert all(model["object"] == "model" and model["owned_by"] for model in listed["data"])
    assert api.get("/v1/models/tts-1").json()["id"] == "tts-1"
    assert_openai_error(api.get("/v1/models/whisper-1"), 404, "invalid_request_error")


def test_voices_carry_their_openai_names(api, builtin_voices):
    voices = {voice["name"]: voice for voice in api.get("/v1/audio/voices").json()["voices"]}
    assert voices["EN-FEMALE-1-NEUTRAL"]["id"] == str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id)
    assert "alloy" in voices["EN-FEMALE-1-NEUTRAL"]["aliases"]
    every_alias = sorted(alias for voice in voices.values() for alias in voice["aliases"])
    assert every_alias == sorted(OPENAI_VOICE_ALIASES)
