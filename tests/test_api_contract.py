"""The REST API's contract without the stack's processes: input checks, the error envelope, tokens,
the rate limit, the OpenAPI description. Refused requests never reach the queue, so nothing here
needs a worker; each test also checks that a refusal stored nothing."""

import json
import uuid

import pytest
from django.test import Client

from accounts.models import ApiToken
from accounts.services import token_create, token_revoke
from studio.models import Generation

SPEECH_PATHS = ["/api/v1/tts_non_stream", "/api/v1/tts_stream"]


@pytest.fixture
def token(user) -> str:
    return token_create(user=user, name="tests")[1]


@pytest.fixture
def api(client, token):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client


def post_json(client, path: str, body) -> object:
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    return client.post(path, data, content_type="application/json")


def assert_envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert body["success"] is False and body["code"] == code and body["message"], body
    return body


@pytest.mark.parametrize("path", SPEECH_PATHS)
def test_bad_speech_requests_are_refused_with_the_reason(api, builtin_voices, path, settings):
    voice = str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id)
    good = {"text": "Hello.", "voice_id": voice, "model_name": "outetts_1_pro"}
    cases = [
        (b"{not json", 400, "VALIDATION_ERROR", "parse"),
        (b"", 400, "VALIDATION_ERROR", ""),
        ([], 400, "VALIDATION_ERROR", "required"),
        ({"voice_id": voice, "model_name": "outetts_1_pro"}, 400, "VALIDATION_ERROR", "text"),
        ({**good, "text": ""}, 400, "VALIDATION_ERROR", "empty"),
        ({**good, "text": "   "}, 400, "VALIDATION_ERROR", "empty"),
        ({**good, "text": 42}, 400, "VALIDATION_ERROR", "text"),
        ({**good, "text": ["a"]}, 400, "VALIDATION_ERROR", "text"),
        ({**good, "text": "a" * (settings.TTS_MAX_TEXT_CHARS + 1)}, 400, "VALIDATION_ERROR", "limit"),
        ({"text": "Hi", "model_name": "outetts_1_pro"}, 400, "VALIDATION_ERROR", "voice_id"),
        ({**good, "voice_id": None}, 400, "VALIDATION_ERROR", "voice_id"),
        ({**good, "voice_id": str(uuid.uuid4())}, 404, "NOT_FOUND", "Voice"),
        ({**good, "voice_id": "no-such-voice"}, 404, "NOT_FOUND", "Voice"),
        ({"text": "Hi", "voice_id": voice}, 400, "VALIDATION_ERROR", "model_name"),
        ({**good, "model_name": "tts-1"}, 400, "VALIDATION_ERROR", "Unknown model"),
        ({**good, "response_format": "ogg"}, 400, "VALIDATION_ERROR", "response_format must be one of wav"),
        ({**good, "response_format": 3}, 400, "VALIDATION_ERROR", "response_format"),
        ({**good, "speed": 0.2}, 400, "VALIDATION_ERROR", "speed must be a number from 0.25 to 4.0"),
        ({**good, "speed": 4.5}, 400, "VALIDATION_ERROR", "speed"),
        ({**good, "speed": "fast"}, 400, "VALIDATION_ERROR", "speed"),
        ({**good, "speed": True}, 400, "VALIDATION_ERROR", "speed"),
    ]
    for body, status, code, words in cases:
        message = assert_envelope(post_json(api, path, body), status, code)["message"]
        assert words.lower() in message.lower(), (body, message)
    assert not Generation.objects.exists()


@pytest.mark.parametrize("path", SPEECH_PATHS)
def test_speech_needs_a_valid_token(client, user, builtin_voices, path):
    body = {"text": "Hi", "voice_id": str(builtin_voices["EN-MALE-1-NEUTRAL"].id), "model_name": "outetts_1_pro"}
    token, secret = token_create(user=user, name="soon revoked")
    token_revoke(user=user, token_id=token.id)
    for header in [None, "Bearer", "Bearer oute_wrong", "Token " + secret, f"Bearer {secret}", "Basic abc"]:
        if header:
            client.defaults["HTTP_AUTHORIZATION"] = header
        assert_envelope(post_json(client, path, body), 401, "UNAUTHORIZED")
    assert not Generation.objects.exists()


def test_voices_lists_builtins_with_their_ids(api, builtin_voices):
    response = api.get("/api/v1/voices")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    voices = {voice["speaker_name"]: voice for voice in body["data"]["voices"]}
    assert voices["EN-FEMALE-1-NEUTRAL"]["voice_id"] == str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id)
    assert voices["EN-MALE-1-NEUTRAL"]["is_clone"] is False
    assert {"voice_id", "speaker_name", "is_clone"} <= set(voices["EN-MALE-1-NEUTRAL"])


def test_health_needs_no_token(client):
    response = client.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["data"]["status"] == "ok"


def test_unknown_paths_methods_and_huge_bodies_answer_in_the_envelope(api, settings):
    assert_envelope(api.get("/api/v1/no-such-thing"), 404, "NOT_FOUND")
    assert_envelope(api.put("/api/v1/voices"), 405, "METHOD_NOT_ALLOWED")
    huge = json.dumps({"text": "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 10)})
    assert_envelope(post_json(api, "/api/v1/tts_stream", huge), 413, "PAYLOAD_TOO_LARGE")
    assert not Generation.objects.exists()


def test_rate_limit_answers_429_with_retry_after_and_stores_nothing(api, user, other_user, builtin_voices, settings):
    settings.TTS_RATE_LIMIT_PER_MINUTE = 2
    session_page = Client()
    session_page.force_login(user)
    from studio.services import session_create

    session = session_create(owner=user)
    voice = str(builtin_voices["EN-MALE-1-NEUTRAL"].id)
    for _ in range(2):
        response = post_json(
            session_page, f"/studio/sessions/{session.id}/generations", {"text": "Hi", "voice_id": voice}
        )
        assert response.status_code == 201
    body = {"text": "Hi", "voice_id": voice, "model_name": "outetts_1_pro"}
    response = post_json(api, "/api/v1/tts_stream", body)
    assert_envelope(response, 429, "TTS_RATE_LIMITED")
    assert 1 <= int(response["Retry-After"]) <= 60
    assert Generation.objects.count() == 2
    # The Studio counts against the same limit as the API.
    again = post_json(session_page, f"/studio/sessions/{session.id}/generations", {"text": "Hi", "voice_id": voice})
    assert again.status_code == 429
    # Another account is not held back by this one.
    other_page = Client()
    other_page.force_login(other_user)
    other_session = session_create(owner=other_user)
    made = post_json(other_page, f"/studio/sessions/{other_session.id}/generations", {"text": "Hi", "voice_id": voice})
    assert made.status_code == 201
    assert Generation.objects.count() == 3


def test_tokens_are_shown_once_listed_masked_and_revoked_at_once(api, user, token):
    created = api.post("/api/v1/tokens", json.dumps({"name": "CI"}), content_type="application/json")
    assert created.status_code == 201
    data = created.json()["data"]
    secret = data["token"]
    assert secret.startswith("oute_") and len(secret) >= 32 and data["name"] == "CI"
    stored = ApiToken.objects.get(id=data["token_id"])
    assert secret not in (stored.secret_digest, stored.prefix) and stored.secret_digest != secret

    listed = api.get("/api/v1/tokens").json()["data"]["tokens"]
    assert {t["name"] for t in listed} == {"tests", "CI"}
    assert all(secret not in json.dumps(t) and t["token"].startswith("oute_") for t in listed)
    assert all("created_at" in t and "last_used_at" in t for t in listed)

    client = Client(HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert client.get("/api/v1/voices").status_code == 200
    assert api.delete(f"/api/v1/tokens/{data['token_id']}").json()["data"]["revoked"] is True
    assert_envelope(client.get("/api/v1/voices"), 401, "UNAUTHORIZED")
    assert_envelope(api.delete(f"/api/v1/tokens/{data['token_id']}"), 404, "NOT_FOUND")


def test_others_cannot_revoke_or_see_your_tokens(client, user, other_user):
    token, _ = token_create(user=user, name="mine")
    _, other_secret = token_create(user=other_user, name="theirs")
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {other_secret}"
    assert_envelope(client.delete(f"/api/v1/tokens/{token.id}"), 404, "NOT_FOUND")
    assert [t["name"] for t in client.get("/api/v1/tokens").json()["data"]["tokens"]] == ["theirs"]
    assert ApiToken.objects.get(id=token.id).revoked_at is None


def test_tokens_api_takes_the_browser_session_with_csrf_only(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    assert browser.get("/api/v1/tokens").status_code == 200
    refused = browser.post("/api/v1/tokens", json.dumps({"name": "x"}), content_type="application/json")
    assert_envelope(refused, 401, "UNAUTHORIZED")
    assert not ApiToken.objects.exists()
    browser.get("/studio/", follow=True)  # the page sets the CSRF cookie, as in a real browser
    csrf = browser.cookies["csrftoken"].value
    made = browser.post(
        "/api/v1/tokens", json.dumps({"name": "first"}), content_type="application/json", HTTP_X_CSRFTOKEN=csrf
    )
    assert made.status_code == 201 and made.json()["data"]["token"].startswith("oute_")


def test_tokens_command_prints_the_secret_alone_on_its_last_line(user):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("tokens", "create", user.email, "--name", "ops", stdout=out)
    secret = out.getvalue().strip().splitlines()[-1]
    assert secret.startswith("oute_") and " " not in secret
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/voices").status_code == 200


def test_legacy_api_refuses_bad_tokens_and_speakers_in_the_envelope(client, token, builtin_voices):
    def legacy(body):
        return post_json(client, "/api/v1/tts", body)

    base = {"token": token, "text": "Hello.", "speaker": {"default": "EN-FEMALE-1-NEUTRAL"}}
    assert_envelope(legacy({**base, "token": "oute_nope"}), 401, "UNAUTHORIZED")
    assert_envelope(legacy({**base, "speaker": {"custom": "nobody"}}), 404, "NOT_FOUND")
    assert_envelope(legacy({**base, "speaker": {"default": "EN-ROBOT-9"}}), 404, "NOT_FOUND")
    assert_envelope(legacy({**base, "speaker": {"other": "x"}}), 400, "VALIDATION_ERROR")
    assert_envelope(legacy({**base, "speaker": "EN-FEMALE-1-NEUTRAL"}), 400, "VALIDATION_ERROR")
    assert_envelope(legacy({**base, "temperature": 1.5}), 400, "VALIDATION_ERROR")
    assert_envelope(legacy({**base, "temperature": 0.05}), 400, "VALIDATION_ERROR")
    assert_envelope(legacy({**base, "text": ""}), 400, "VALIDATION_ERROR")
    assert not Generation.objects.exists()


def test_openapi_description_and_docs_page_are_served_without_a_cdn(client):
    spec = client.get("/api/v1/openapi.json").json()
    for path in ["/api/v1/voices", "/api/v1/tts_non_stream", "/api/v1/tts_stream", "/api/v1/tts", "/api/v1/tokens"]:
        assert path in spec["paths"], path
    docs = client.get("/api/v1/docs")
    assert docs.status_code == 200
    assert b"swagger" in docs.content.lower()
    assert b"cdn." not in docs.content and b"jsdelivr" not in docs.content
