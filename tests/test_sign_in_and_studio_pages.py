"""Sign-up, sign-in and who may see what, through Django's test client."""

import json

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from core.audio import wav_from_pcm
from core.errors import STATUS_BY_CODE
from studio.models import Generation, Session
from studio.services import session_create


@pytest.mark.django_db
def test_signup_signs_the_user_in_and_lands_in_the_studio(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "a long pass phrase 42", "password2": "a long pass phrase 42"},
        follow=True,
    )
    session = Session.objects.get(owner__email="new@example.com")
    assert response.redirect_chain[-1][0] == reverse("studio:session_detail", args=[session.id])
    assert response.status_code == 200
    assert b"composer-text" in response.content


@pytest.mark.django_db
def test_signup_asks_for_the_password_twice(client):
    response = client.post(
        "/accounts/signup/",
        {"email": "new@example.com", "password1": "a long pass phrase 42", "password2": "another one 42"},
    )
    assert response.status_code == 200
    assert b"same password" in response.content
    assert not Session.objects.exists()


def test_studio_requires_sign_in(client, user):
    session = session_create(owner=user)
    for path in ["/studio/", reverse("studio:session_detail", args=[session.id])]:
        response = client.get(path)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/"), path


def test_login_with_email_and_logout(client, user):
    response = client.post("/accounts/login/", {"login": "ada@example.com", "password": "correct horse battery staple"})
    assert response.status_code == 302
    assert client.get("/studio/", follow=True).status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/studio/").status_code == 302


def test_studio_opens_the_latest_session_and_keeps_it(client, user):
    client.force_login(user)
    first = client.get("/studio/")
    again = client.get("/studio/")
    assert first.url == again.url
    assert Session.objects.filter(owner=user).count() == 1


def test_new_session_gets_its_own_url(client, user):
    client.force_login(user)
    first = client.get("/studio/").url
    second = client.post(reverse("studio:session_new")).url
    assert first != second
    assert client.get(second).status_code == 200


def _done_generation(user, builtin_voices) -> Generation:
    session = session_create(owner=user)
    voice = builtin_voices["EN-MALE-1-NEUTRAL"]
    generation = Generation.objects.create(
        session=session,
        user=user,
        voice=voice,
        voice_name=voice.speaker_name,
        text="Hello.",
        status="done",
        seconds=0.5,
    )
    generation.audio.save(f"{session.id}/{generation.id}.wav", ContentFile(wav_from_pcm(b"\x01\x00" * 12_000)))
    return generation


def test_others_get_404_for_session_feed_and_audio(client, user, other_user, builtin_voices):
    generation = _done_generation(user, builtin_voices)
    client.force_login(other_user)
    for url in [
        reverse("studio:session_detail", args=[generation.session_id]),
        reverse("studio:session_generations", args=[generation.session_id]),
        reverse("studio:generation_audio", args=[generation.id]),
    ]:
        assert client.get(url).status_code == 404, url
    response = client.post(
        reverse("studio:session_generations", args=[generation.session_id]),
        {"text": "Hi", "voice_id": str(generation.voice_id)},
        content_type="application/json",
    )
    assert response.status_code == 404
    assert Generation.objects.count() == 1


def test_anonymous_callers_cannot_fetch_audio(client, user, builtin_voices):
    generation = _done_generation(user, builtin_voices)
    response = client.get(reverse("studio:generation_audio", args=[generation.id]))
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_owner_gets_audio_whole_in_ranges_and_as_download(client, user, builtin_voices):
    generation = _done_generation(user, builtin_voices)
    client.force_login(user)
    url = reverse("studio:generation_audio", args=[generation.id])
    whole = client.get(url)
    body = b"".join(whole.streaming_content)
    assert whole.status_code == 200 and whole["Content-Type"] == "audio/wav"
    assert len(body) == 44 + 24_000 and body[:4] == b"RIFF"
    part = client.get(url, HTTP_RANGE="bytes=40-47")
    assert part.status_code == 206 and part.content == body[40:48]
    assert part["Content-Range"] == f"bytes 40-47/{len(body)}"
    assert client.get(url, HTTP_RANGE="bytes=999999-").status_code == 416
    download = client.get(url + "?download=1")
    assert download["Content-Disposition"].startswith("attachment;") and ".wav" in download["Content-Disposition"]


def test_composer_refusals_are_clear_json_and_store_nothing(client, user, builtin_voices):
    client.force_login(user)
    session = session_create(owner=user)
    url = reverse("studio:session_generations", args=[session.id])
    voice_id = str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id)
    cases = [
        (b"not json", 400, "not valid JSON"),
        (b"[1, 2]", 400, "JSON object"),
        (json.dumps({"text": "", "voice_id": voice_id}).encode(), 400, "empty"),
        (b'{"text": "Hello"}', 404, "Voice not found"),
        (json.dumps({"text": "a" * 5001, "voice_id": voice_id}).encode(), 400, "limit"),
    ]
    for body, status, message in cases:
        response = client.post(url, body, content_type="application/json")
        assert response.status_code == status, body
        # The API's envelope, the same for the Studio's JSON endpoints.
        envelope = response.json()
        assert set(envelope) == {"success", "code", "message"} and envelope["success"] is False, body
        assert STATUS_BY_CODE[envelope["code"]] == status and message in envelope["message"], body
    assert not Generation.objects.exists()


def test_composer_post_needs_csrf(user, builtin_voices):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    session = session_create(owner=user)
    response = client.post(
        reverse("studio:session_generations", args=[session.id]),
        {"text": "Hello", "voice_id": str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id)},
        content_type="application/json",
    )
    assert response.status_code == 403
    assert not Generation.objects.exists()


def test_account_page_makes_a_token_shows_it_once_and_revokes_it(client, user):
    from accounts.models import ApiToken

    client.force_login(user)
    made = client.post(reverse("account_token_new"), {"name": "laptop"})
    assert made.status_code == 200
    secret = made.context["new_secret"]
    assert secret.startswith("oute_") and secret.encode() in made.content
    page = client.get(reverse("account"))
    assert secret.encode() not in page.content, "the secret is shown once only"
    token = ApiToken.objects.get(user=user)
    assert token.masked.encode() in page.content.replace(b"&bull;", "•".encode())
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/voices").status_code == 200
    client.post(reverse("account_token_revoke", args=[token.id]))
    assert Client(HTTP_AUTHORIZATION=f"Bearer {secret}").get("/api/v1/voices").status_code == 401


def test_account_page_refuses_nameless_tokens_and_others_tokens(client, user, other_user):
    from accounts.models import ApiToken
    from accounts.services import token_create

    client.force_login(user)
    assert client.post(reverse("account_token_new"), {"name": "  "}).status_code == 400
    assert not ApiToken.objects.exists()
    theirs, _ = token_create(user=other_user, name="theirs")
    assert client.post(reverse("account_token_revoke", args=[theirs.id])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


@pytest.mark.django_db
def test_static_files_and_pages_are_served_through_the_async_request_path(async_client):
    """Under ASGI (uvicorn, here Django's async test client) the static files' middleware runs on
    the event loop: a static file is still served, and every other path goes on to its view."""
    import asyncio

    async def fetch():
        return await async_client.get("/static/studio/studio.js"), await async_client.get("/api/v1/health")

    script, health = asyncio.run(fetch())
    assert script.status_code == 200 and b"feed-data" in b"".join(script.streaming_content)
    assert health.status_code == 200 and health.json()["success"] is True
