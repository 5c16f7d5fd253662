"""/v1's contract without the stack's processes: OpenAI's error shape and statuses for the requests
refused before anything is queued, the model list, the voices with their OpenAI names."""

import asyncio
import json
import re
from pathlib import Path

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
    # Exactly our codes: a new code in STATUS_BY_CODE must be given OpenAI's type and code here,
    # not fall back to a guess.
    assert set(OPENAI_ERROR_BY_CODE) == set(STATUS_BY_CODE)
    for code, (kind, openai_code) in OPENAI_ERROR_BY_CODE.items():
        status = STATUS_BY_CODE[code]
        # The `openai` package picks its class from the status (ours), OpenAI's clients read the
        # type: they must agree on server error versus rate limit versus the caller's mistake.
        assert (kind == "server_error") == (status >= 500), code
        assert (kind == "requests") == (status == 429), code
        assert (kind == "insufficient_quota") == (status == 402), code
        assert openai_code and openai_code == openai_code.lower(), code


def test_every_status_is_in_the_documented_errors_table():
    """Each status /v1 answers is in docs/openai.md's table, where one that is not OpenAI's (402
    for credits, where OpenAI answers 429) is explained under "What differs from OpenAI"."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "openai.md").read_text()
    table = docs.split("## Errors", 1)[1].split("\n## ", 1)[0]
    documented = {int(status) for status in re.findall(r"^\| (\d{3}) \|", table, re.MULTILINE)}
    assert set(STATUS_BY_CODE.values()) <= documented, set(STATUS_BY_CODE.values()) - documented
    assert "402" in docs.split("## What differs from OpenAI", 1)[1]


def asgi_answer(path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, dict, bytes]:
    """What the web process's ASGI application (config.asgi, with its wrappers) answers."""
    from config.asgi import application

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("testserver", 80),
    }
    asyncio.run(application(scope, receive, send))
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def test_a_body_over_the_limit_is_refused_in_the_shape_of_its_api():
    big = [(b"content-type", b"application/json"), (b"content-length", b"100000")]
    status, headers, body = asgi_answer("/v1/audio/speech", big)
    assert status == 413 and headers[b"content-type"] == b"application/json"
    assert int(headers[b"content-length"]) == len(body)
    error = json.loads(body)["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "payload_too_large", error
    assert "at most 65536 bytes" in error["message"] and error["param"] is None
    # Under /api/ (and the pages) it stays the seeds' envelope.
    for path in ["/api/v1/tts_stream", "/api/v1/tts"]:
        status, _, body = asgi_answer(path, big)
        assert status == 413 and json.loads(body)["code"] == "PAYLOAD_TOO_LARGE", path
        assert json.loads(body)["success"] is False
    # A chunked body without a length is counted as it comes: refused the same.
    status, _, body = asgi_answer("/v1/audio/speech", [(b"content-type", b"application/json")], b"a" * 70_000)
    assert status == 413 and json.loads(body)["error"]["code"] == "payload_too_large"


def test_djangos_own_refusals_under_v1_are_in_openais_shape(api):
    assert_openai_error(api.get("/v1/no-such-endpoint"), 404, "invalid_request_error")
    refused = api.delete("/v1/audio/speech")
    assert_openai_error(refused, 405, "invalid_request_error")
    assert "POST" in refused["Allow"]


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
