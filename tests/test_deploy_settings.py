"""The web side of a deployment: `check --deploy` clean with production settings, login and signup
rate limits, CSRF on every form and session-authenticated endpoint, password rules, and API token
secrets kept out of logs and the database."""

import hashlib
import json
import os
import secrets
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.db import models
from django.test import Client

from accounts.models import ApiToken, User
from accounts.services import team_create, token_create, token_revoke
from harness.processes import ROOT, free_port, running_process, stack_env, web_command
from studio.services import session_create
from tests.conftest import cache_clear_this_run
from tests.test_account_isolation import url_routes

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": secrets.token_urlsafe(64),
    "ALLOWED_HOSTS": "tts.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://tts.example.com",
    "DATABASE_URL": "postgres://outeai@db.internal:5432/outeai",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "smtp.internal",
}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DEBUG", "SECRET_KEY"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# ---------- check --deploy ----------


def test_check_deploy_is_clean_with_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", env=env)
    assert result.returncode != 0 and "SECRET_KEY" in result.stderr


def test_production_settings_switch_on_the_browser_protections():
    code = (
        "from django.conf import settings as s;import json;print(json.dumps({k: getattr(s, k) for k in "
        "['DEBUG','SESSION_COOKIE_SECURE','CSRF_COOKIE_SECURE','SECURE_SSL_REDIRECT','SECURE_HSTS_SECONDS',"
        "'SECURE_CONTENT_TYPE_NOSNIFF','X_FRAME_OPTIONS','SESSION_COOKIE_HTTPONLY']}))"
    )
    result = _manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout.strip().splitlines()[-1])
    assert values == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        "SESSION_COOKIE_HTTPONLY": True,
    }


def test_production_keeps_rate_limit_counters_in_a_shared_cache():
    code = "from django.conf import settings as s;print(s.CACHES['default']['BACKEND'])"
    result = _manage("shell", "-c", code, env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "locmem" not in result.stdout.lower(), result.stdout


# ---------- login and signup rate limits ----------


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache_clear_this_run()  # allauth's counters live in the cache
    yield
    cache_clear_this_run()


def test_failed_logins_for_one_account_are_refused_after_five(user):
    browser = Client()
    wrong = {"login": user.email, "password": "not the password"}
    for _ in range(5):
        response = browser.post("/accounts/login/", wrong)
        assert response.status_code == 200 and "_auth_user_id" not in browser.session
    # The sixth attempt is refused even with the right password: the account is locked for a while.
    response = browser.post("/accounts/login/", {"login": user.email, "password": "correct horse battery staple"})
    assert "_auth_user_id" not in browser.session
    assert response.status_code in {200, 429}
    assert "too many" in response.content.decode().lower()
    # From another address too: the limit is per account.
    other_address = Client(REMOTE_ADDR="10.9.8.7")
    other_address.post("/accounts/login/", {"login": user.email, "password": "correct horse battery staple"})
    assert "_auth_user_id" not in other_address.session


def test_logins_from_one_address_are_rate_limited(db):
    browser = Client(REMOTE_ADDR="10.1.2.3")
    statuses = [
        browser.post("/accounts/login/", {"login": f"u{i}@example.com", "password": "x"}).status_code for i in range(31)
    ]
    assert 429 in statuses or statuses.count(200) < 31
    assert statuses[-1] == 429, statuses[-5:]


def test_signups_from_one_address_are_rate_limited(db):
    browser = Client(REMOTE_ADDR="10.4.5.6")
    statuses = []
    for index in range(21):
        data = {"email": f"new{index}@example.com", "password1": "a long pass phrase 42", "password2": "different"}
        statuses.append(browser.post("/accounts/signup/", data).status_code)
    assert statuses[:20] == [200] * 20 and statuses[20] == 429, statuses
    assert not User.objects.filter(email__startswith="new").exists()


# ---------- password rules ----------


@pytest.mark.parametrize(
    "password",
    ["password", "short1!", "12345678901", "ada.lovelace@example.com", "qwertyuiop", "Passw0rd"],
)
def test_signup_refuses_weak_passwords(db, password):
    response = Client().post(
        "/accounts/signup/", {"email": "ada.lovelace@example.com", "password1": password, "password2": password}
    )
    assert response.status_code == 200, response.status_code
    assert not User.objects.filter(email="ada.lovelace@example.com").exists(), password
    assert "password" in response.content.decode().lower()


def test_signup_takes_a_good_password(db):
    phrase = "violet harbour 47 lanterns"
    response = Client().post(
        "/accounts/signup/", {"email": "grace@example.com", "password1": phrase, "password2": phrase}
    )
    assert response.status_code == 302
    user = User.objects.get(email="grace@example.com")
    assert user.check_password(phrase) and phrase not in user.password


# ---------- CSRF on every form and session-authenticated endpoint ----------


def _filled(route: str, ids: dict[str, str]) -> str:
    url = "/" + route
    for placeholder, value in ids.items():
        url = url.replace(placeholder, value)
    return url


@pytest.fixture
def own_objects(user, builtin_voices) -> dict[str, str]:
    """The signed-in user's own objects, so that a POST would do something if CSRF let it through."""
    from tests.test_account_isolation import _generation

    session = session_create(owner=user, title="Mine")
    generation = _generation(session, user, builtin_voices["EN-FEMALE-1-NEUTRAL"], "Mine to keep")
    token, _ = token_create(user=user, name="mine")
    team = team_create(owner=user, name="My team")
    from voices.models import Voice

    clone = Voice.objects.create(speaker_name="My clone", kind="clone", owner=user, engine_voice="", profile={})
    from core.pronunciation import PronunciationRule
    from voices.services import pronunciation_rule_create

    rule = pronunciation_rule_create(user=user, rule=PronunciationRule("Zorblax", alias="door bell"))
    yield {
        "<uuid:rule_id>": str(rule.id),
        "<uuid:session_id>": str(session.id),
        "<uuid:generation_id>": str(generation.id),
        "<str:action>": "delete",
        "<uuid:token_id>": str(token.id),
        "<uuidstr:token_id>": str(token.id),
        "<uuid:team_id>": str(team.id),
        "<int:invitation_id>": "1",
        "<uuid:voice_id>": str(clone.id),
        "<uuidstr:voice_id>": str(clone.id),
        "<path:object_id>": str(session.id),
        "<path:content_type_id>": "1",
        "<id>": str(user.id),
        "^(?P<app_label>auth|account|billing|accounts|voices|studio)/$": "studio/",
        "(?P<url>.*)$": "studio/session/",
        "^confirm-email/(?P<key>[-:\\w]+)/$": "confirm-email/key/",
        "^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": "password/reset/key/1-key/",
    }
    generation.audio.delete(save=False)


def _state(user) -> tuple:
    from studio.models import Generation, Session
    from voices.models import Voice

    return (
        list(Session.objects.filter(owner=user).values_list("title", flat=True).order_by("title")),
        Generation.objects.count(),
        ApiToken.objects.filter(user=user, revoked_at__isnull=True).count(),
        Voice.objects.filter(owner=user).count(),
        user.memberships.count(),
        user.pronunciation_rules.count(),
    )


def test_every_post_without_the_csrf_token_is_refused(user, own_objects):
    """Every route of the URLconf, POSTed by a signed-in browser and by an anonymous one without the
    CSRF token: pages answer 403; the API, which takes a session only on /tokens, refuses with 401 in
    its envelope (its code for a session without CSRF) and the other endpoints ignore the session."""
    signed_in = Client(enforce_csrf_checks=True)
    signed_in.force_login(user)
    anonymous = Client(enforce_csrf_checks=True)
    before = _state(user)
    checked = 0
    for route in url_routes():
        if route in API_OWN_VIEWS:
            continue  # test_writes_to_the_apis_own_views_without_csrf, below
        url = _filled(route, own_objects)
        for who, browser in (("signed in", signed_in), ("anonymous", anonymous)):
            for body in ({"title": "Hacked", "name": "Hacked", "action": "delete"}, None):
                if body is None:
                    response = browser.post(url, "{}", content_type="application/json")
                else:
                    response = browser.post(url, body)
                where = f"POST {url} ({who})"
                if route in SIGNED_WEBHOOKS:
                    # No session and no CSRF token by design: Stripe's signature is its proof.
                    assert response.status_code == 400, (where, response.status_code)
                elif url.startswith("/v1/"):
                    # The OpenAI-compatible API takes bearer tokens only: a session is no one.
                    assert response.status_code in {400, 401, 403, 404, 405}, (where, response.status_code)
                    assert response.json()["error"]["message"], where
                elif url.startswith("/api/"):
                    assert response.status_code in {400, 401, 403, 404, 405}, (where, response.status_code)
                    assert response.json()["success"] is False, where
                    if url == "/api/v1/tokens" and who == "signed in":
                        assert response.status_code == 401 and "CSRF" in response.json()["message"], where
                else:
                    assert response.status_code == 403, (where, response.status_code)
                checked += 1
    assert checked > 100
    assert _state(user) == before, "a POST without the CSRF token changed something"
    assert "_auth_user_id" in signed_in.session, "the logout form needs the token too"


# Stripe's webhook takes no session: it is proved by its signature (tests/test_payments.py).
SIGNED_WEBHOOKS = ["billing/stripe/webhook/"]

# ninja's own views (the root, the docs page, the description) are not API operations.
API_OWN_VIEWS = ["api/v1/", "api/v1/docs", "api/v1/openapi.json"]


@pytest.mark.parametrize("method", ["post", "put", "delete"])
@pytest.mark.parametrize("route", API_OWN_VIEWS)
def test_writes_to_the_apis_own_views_without_csrf(db, route, method):
    response = getattr(Client(enforce_csrf_checks=True), method)("/" + route)
    assert response.status_code in {403, 405}, response.status_code
    assert response.json()["success"] is False


def test_with_the_csrf_token_the_same_forms_work(user):
    """The other side of the check above: a real browser's POST (token from the cookie) goes through."""
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/studio/", follow=True)
    csrf = browser.cookies["csrftoken"].value
    response = browser.post("/teams/", {"name": "Crew", "csrfmiddlewaretoken": csrf})
    assert response.status_code == 302 and user.memberships.count() == 1


# ---------- token secrets: hashed in the database, never in a log ----------


def _text_fields_containing(needle: str) -> list[str]:
    found = []
    for model in apps.get_models():
        fields = [f.name for f in model._meta.concrete_fields if isinstance(f, (models.CharField, models.TextField))]
        found.extend(
            f"{model.__name__}.{name}"
            for name in fields
            if model.objects.filter(**{f"{name}__contains": needle}).exists()
        )
    return found


def test_token_secrets_are_stored_as_digests_only(user):
    token, secret = token_create(user=user, name="ci")
    stored = ApiToken.objects.get(id=token.id)
    assert stored.secret_digest == hashlib.sha256(secret.encode()).hexdigest()
    assert len(stored.prefix) < 16 and secret.startswith(stored.prefix)
    assert _text_fields_containing(secret) == []
    assert _text_fields_containing(secret[len(stored.prefix) :]) == []


@pytest.mark.stack
def test_token_secrets_never_reach_the_web_log_or_the_database(transactional_db, user, builtin_voices, stack):
    """A web process of its own, logging at DEBUG (SQL included), gets requests with good, revoked,
    malformed and legacy-body tokens, and one that fails inside the app; then its log is searched."""
    _token, secret = token_create(user=user, name="log test")
    revoked, revoked_secret = token_create(user=user, name="revoked")
    token_revoke(user=user, token_id=revoked.id)
    wrong = "oute_" + secrets.token_urlsafe(30)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    database = django_settings.DATABASES["default"]
    env = stack_env(
        DJANGO_SETTINGS_MODULE="config.settings.test",
        DATABASE_URL=f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/{database['NAME']}",
        ENGINE_URL=stack.engine_url,
        LOG_LEVEL="DEBUG",
    )
    voice = str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id)
    created_secret = None
    with running_process("web-log", web_command(port), env=env, ready_url=f"{url}/api/v1/health") as web:
        log_path = getattr(web, "log_path", web)  # the process (with .log_path), or the path itself
        with httpx.Client(base_url=url, timeout=30) as client:
            for value in (secret, revoked_secret, wrong):
                client.get("/api/v1/voices", headers={"Authorization": f"Bearer {value}"})
                client.get("/api/v1/tokens", headers={"Authorization": f"bearer  {value}"})
                client.get("/api/v1/voices", headers={"Authorization": f"Token {value}"})
                client.post(
                    "/api/v1/tts",
                    json={"token": value, "text": "Hi", "speaker": {"default": "NOBODY"}},
                )
                client.post(
                    "/api/v1/tts_non_stream",
                    json={"text": "Hi", "voice_id": str(uuid.uuid4()), "model_name": "outetts_1_pro"},
                    headers={"Authorization": f"Bearer {value}"},
                )
            # A request that fails inside the app (logged with its traceback), carrying the token.
            client.post(
                "/api/v1/voice-clones",
                content="[" * 10_000,
                headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
            )
            client.post("/api/v1/tts_non_stream", json={"text": "Hi", "voice_id": voice}, headers={"X-Token": secret})
            made = client.post("/api/v1/tokens", json={"name": "new"}, headers={"Authorization": f"Bearer {secret}"})
            created_secret = made.json()["data"]["token"]
        log = Path(log_path).read_text(errors="replace")
    assert "DEBUG" in log or "INFO" in log, "the web process logged nothing: the test would prove nothing"
    for name, value in [("token", secret), ("revoked", revoked_secret), ("wrong", wrong), ("new", created_secret)]:
        assert value not in log, f"the {name} secret is in the web log"
        assert value[9:] not in log, f"the secret part of the {name} token is in the web log"
    assert _text_fields_containing(secret[9:]) == [] and _text_fields_containing(created_secret[9:]) == []
