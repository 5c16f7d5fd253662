"""API manners without the stack's processes: X-Request-Id on every response, the rate limit's
headers, and Idempotency-Key's answers that need no generation to run (a refusal keeps no key, a
used key with another body is a conflict, a running one is in progress, a done one is replayed,
keys are an account's own, old ones expire). The generations themselves: test_api_manners_stack."""

import json
import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts.services import token_create
from api.idempotency import idempotency_keys_expire
from api.models import IdempotencyKey
from studio.models import Generation
from studio.services import session_create

NON_STREAM = "/api/v1/tts_non_stream"


def bearer_client(user) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {token_create(user=user, name='manners')[1]}")


def speech_body(builtin_voices, voice_id: str | None = None) -> str:
    voice_id = voice_id or str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id)
    return json.dumps({"text": "Hello there.", "voice_id": voice_id, "model_name": "outetts_1_pro"})


def post(client: Client, path: str, body: str, **headers: str):
    return client.post(path, body, content_type="application/json", headers=headers)


def envelope(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["success"] is False and body["code"] == code and body["message"], body
    return body


def kept(user, key: str, body: str, *, state: str, path: str = NON_STREAM) -> IdempotencyKey:
    """A key as api.idempotency keeps it for this body (the hash of method, path and body)."""
    import hashlib

    digest = hashlib.sha256(f"POST\n{path}\n".encode() + body.encode()).hexdigest()
    return IdempotencyKey.objects.create(
        user=user, key=key, request_hash=digest, state=state, status_code=200, content_type="audio/wav", body=b"RIFF1"
    )


# ---------- X-Request-Id ----------


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/health", "/", "/api/v1/no-such-thing", "/accounts/login/"])
def test_every_response_carries_the_callers_request_id_or_a_new_one(client, path):
    sent = client.get(path, headers={"X-Request-Id": "trace-42/abc"})
    assert sent["X-Request-Id"] == "trace-42/abc"
    made = client.get(path)
    assert len(made["X-Request-Id"]) == 32 and int(made["X-Request-Id"], 16) >= 0
    for insane in ("x" * 129, "two words", "tab\there", "é"):
        assert client.get(path, headers={"X-Request-Id": insane})["X-Request-Id"] != insane
    assert client.get(path, headers={"X-Request-Id": "y" * 128})["X-Request-Id"] == "y" * 128


def test_log_records_of_a_request_name_its_id(client, db, caplog):
    with caplog.at_level("WARNING", logger="django.request"):
        client.get("/api/v1/no-such-thing", headers={"X-Request-Id": "find-me-in-the-log"})
    assert [record.request_id for record in caplog.records] == ["find-me-in-the-log"]


# ---------- the rate limit's headers ----------


def test_metered_responses_count_down_and_the_429_says_when_to_retry(user, builtin_voices, settings):
    settings.TTS_RATE_LIMIT_PER_MINUTE = 3
    page = Client()
    page.force_login(user)
    session = session_create(owner=user)
    voice = str(builtin_voices["EN-MALE-1-NEUTRAL"].id)
    body = json.dumps({"text": "Hi", "voice_id": voice})
    remaining = []
    for _ in range(3):
        response = post(page, f"/studio/sessions/{session.id}/generations", body)
        assert response.status_code == 201
        assert response["RateLimit-Limit"] == "3" and 1 <= int(response["RateLimit-Reset"]) <= 60
        remaining.append(int(response["RateLimit-Remaining"]))
    assert remaining == [2, 1, 0]
    refused = post(bearer_client(user), "/api/v1/tts_stream", speech_body(builtin_voices, voice))
    envelope(refused, 429, "TTS_RATE_LIMITED")
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Remaining"] == "0" and refused["RateLimit-Reset"] == refused["Retry-After"]
    # What is not metered carries none.
    assert "RateLimit-Limit" not in page.get("/api/v1/health")


# ---------- Idempotency-Key ----------


def test_a_refused_request_keeps_no_key_and_another_body_with_a_used_key_conflicts(user, builtin_voices):
    api = bearer_client(user)
    missing_voice = speech_body(builtin_voices, str(uuid.uuid4()))
    for _ in range(2):  # refused, so run again (not replayed): nothing was stored or charged
        envelope(post(api, NON_STREAM, missing_voice, **{"Idempotency-Key": "k-1"}), 404, "NOT_FOUND")
    assert not IdempotencyKey.objects.exists()

    body = speech_body(builtin_voices)
    kept(user, "k-2", body, state=IdempotencyKey.State.DONE)
    other_body = body.replace("Hello there.", "Hello again.")
    conflict = envelope(post(api, NON_STREAM, other_body, **{"Idempotency-Key": "k-2"}), 409, "IDEMPOTENCY_CONFLICT")
    assert "different request" in conflict["message"]
    # Another path with the same body is another request too.
    envelope(post(api, "/api/v1/tts_stream", body, **{"Idempotency-Key": "k-2"}), 409, "IDEMPOTENCY_CONFLICT")
    assert not Generation.objects.exists()


def test_a_done_key_is_replayed_and_a_running_one_is_in_progress(user, builtin_voices):
    api = bearer_client(user)
    body = speech_body(builtin_voices)
    kept(user, "done-key", body, state=IdempotencyKey.State.DONE)
    replay = post(api, NON_STREAM, body, **{"Idempotency-Key": "done-key"})
    assert replay.status_code == 200 and replay.content == b"RIFF1" and replay["Content-Type"] == "audio/wav"
    assert replay["Idempotent-Replayed"] == "true" and "RateLimit-Limit" not in replay  # not counted again

    kept(user, "running-key", body, state=IdempotencyKey.State.RUNNING)
    busy = post(api, NON_STREAM, body, **{"Idempotency-Key": "running-key"})
    envelope(busy, 409, "IDEMPOTENCY_IN_PROGRESS")
    assert busy["Retry-After"] == "1"
    assert not Generation.objects.exists()


def test_keys_are_an_accounts_own(user, other_user, builtin_voices):
    body = speech_body(builtin_voices, str(uuid.uuid4()))
    kept(user, "shared-name", body, state=IdempotencyKey.State.DONE)
    # The other account's request with the same key and body runs (and is refused on its own).
    envelope(post(bearer_client(other_user), NON_STREAM, body, **{"Idempotency-Key": "shared-name"}), 404, "NOT_FOUND")


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\tkey", "ключ"])
def test_a_malformed_key_is_refused(user, builtin_voices, key):
    response = post(bearer_client(user), NON_STREAM, speech_body(builtin_voices), **{"Idempotency-Key": key})
    envelope(response, 400, "VALIDATION_ERROR")
    assert not Generation.objects.exists()


def test_legacy_keys_belong_to_the_bodys_token(user, builtin_voices):
    secret = token_create(user=user, name="legacy")[1]
    body = json.dumps({"text": "Hi", "speaker": {"default": "NO-SUCH-VOICE"}, "token": secret})
    kept(user, "legacy-key", body, state=IdempotencyKey.State.RUNNING, path="/api/v1/tts")
    envelope(post(Client(), "/api/v1/tts", body, **{"Idempotency-Key": "legacy-key"}), 409, "IDEMPOTENCY_IN_PROGRESS")
    # Without a valid token the key means nothing: the request is refused as ever.
    unknown = body.replace(secret, "oute_nope")
    envelope(post(Client(), "/api/v1/tts", unknown, **{"Idempotency-Key": "legacy-key"}), 401, "UNAUTHORIZED")


def test_keys_older_than_a_day_expire(user, builtin_voices):
    body = speech_body(builtin_voices)
    old = kept(user, "old", body, state=IdempotencyKey.State.DONE)
    IdempotencyKey.objects.filter(id=old.id).update(created_at=timezone.now() - timedelta(hours=24, minutes=1))
    kept(user, "fresh", body, state=IdempotencyKey.State.DONE)
    assert idempotency_keys_expire() == 1
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["fresh"]


def test_a_refused_multipart_clone_keeps_no_key(user):
    api = bearer_client(user)
    form = {"speaker_name": "Ada"}  # no audio: refused before anything is stored
    for _ in range(2):
        response = api.post("/api/v1/voice-clones", form, headers={"Idempotency-Key": "clone-1"})
        envelope(response, 400, "VALIDATION_ERROR")
    assert not IdempotencyKey.objects.exists()


# ---------- what an account may keep ----------


def running(user, key: str, body: str, *, path: str = NON_STREAM) -> IdempotencyKey:
    record = kept(user, key, body, state=IdempotencyKey.State.RUNNING, path=path)
    IdempotencyKey.objects.filter(id=record.id).update(body=b"", status_code=None)
    return record


def test_an_answer_over_the_size_limits_is_sent_but_not_kept_and_its_retry_is_409(user, builtin_voices, settings):
    from django.http import HttpResponse

    from api.idempotency import idempotency_complete

    settings.IDEMPOTENCY_ANSWER_MAX_BYTES = 1000
    settings.IDEMPOTENCY_ACCOUNT_MAX_BYTES = 1500
    body = speech_body(builtin_voices)
    wav = HttpResponse(b"R" * 800, content_type="audio/wav")
    # Under both limits: kept whole, its size counted.
    idempotency_complete(record_id=running(user, "small", body).id, response=wav)
    small = IdempotencyKey.objects.get(key="small")
    assert small.state == IdempotencyKey.State.DONE and bytes(small.body) == b"R" * 800 and small.body_size == 800
    # Over the answer limit, and (800 + 800 > 1500) over the account's: only the key is kept.
    idempotency_complete(record_id=running(user, "big", body).id, response=HttpResponse(b"R" * 1001))
    idempotency_complete(record_id=running(user, "one-too-many", body).id, response=wav)
    for key in ["big", "one-too-many"]:
        record = IdempotencyKey.objects.get(key=key)
        assert record.state == IdempotencyKey.State.NOT_KEPT and bytes(record.body) == b"" and record.body_size == 0
        # The retry is neither run nor charged again: 409, saying where the audio is.
        refused = envelope(
            post(bearer_client(user), NON_STREAM, body, **{"Idempotency-Key": key}), 409, "IDEMPOTENCY_ANSWER_NOT_KEPT"
        )
        assert "/api/v1/generations" in refused["message"]
        # Another body with the key is still a conflict.
        envelope(
            post(bearer_client(user), NON_STREAM, body.replace("Hello", "Bye"), **{"Idempotency-Key": key}),
            409,
            "IDEMPOTENCY_CONFLICT",
        )
    assert not Generation.objects.exists()


def test_the_not_kept_retry_under_v1_is_in_openais_shape(user, builtin_voices):
    body = json.dumps({"model": "tts-1", "voice": "alloy", "input": "Hello there."})
    record = kept(user, "v1-big", body, state=IdempotencyKey.State.NOT_KEPT, path="/v1/audio/speech")
    IdempotencyKey.objects.filter(id=record.id).update(body=b"")
    response = post(bearer_client(user), "/v1/audio/speech", body, **{"Idempotency-Key": "v1-big"})
    assert response.status_code == 409, response.content
    assert response.json()["error"]["code"] == "idempotency_answer_not_kept"


def test_a_new_key_past_the_accounts_count_is_429_until_the_oldest_expires(user, builtin_voices, settings):
    settings.IDEMPOTENCY_ACCOUNT_MAX_KEYS = 2
    body = speech_body(builtin_voices)
    oldest = kept(user, "k-1", body, state=IdempotencyKey.State.DONE)
    IdempotencyKey.objects.filter(id=oldest.id).update(created_at=timezone.now() - timedelta(hours=23))
    kept(user, "k-2", body, state=IdempotencyKey.State.DONE)
    api = bearer_client(user)
    limited = post(api, NON_STREAM, body, **{"Idempotency-Key": "k-3"})
    envelope(limited, 429, "TTS_RATE_LIMITED")
    assert 3000 <= int(limited["Retry-After"]) <= 3601  # the oldest key leaves in an hour
    # The keys it holds are still replayed, and a request without a key is not refused for them.
    assert post(api, NON_STREAM, body, **{"Idempotency-Key": "k-2"}).content == b"RIFF1"
    missing_voice = speech_body(builtin_voices, str(uuid.uuid4()))
    envelope(post(api, NON_STREAM, missing_voice), 404, "NOT_FOUND")
    # An expired key is not counted.
    IdempotencyKey.objects.filter(id=oldest.id).update(created_at=timezone.now() - timedelta(hours=25))
    envelope(post(api, NON_STREAM, missing_voice, **{"Idempotency-Key": "k-3"}), 404, "NOT_FOUND")
    assert not Generation.objects.exists()
