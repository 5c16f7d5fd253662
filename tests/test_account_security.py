"""Issue 12, "Trust": team invitations apply only to verified addresses, API token scopes, signing
out other sessions, the admin's login and credits permission, and production settings that refuse
to start unsafe.

The invitation attacks run against the real stack (uvicorn, worker, engine as processes), through
allauth's real sign-up form with its CSRF token, as a hostile stranger would; the web process
writes its mails to files (config/settings/test.py), from which the confirmation link is read."""

import email
import html
import re
from pathlib import Path

import httpx
import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client

from accounts.models import ApiToken, Invitation, Membership
from accounts.services import email_verified, team_create, team_invite, token_create
from billing.models import LedgerEntry
from billing.services import credits_signup_grant
from studio.services import session_create, session_share
from tests.conftest import account_make, cache_clear_this_run
from tests.test_deploy_settings import PRODUCTION_ENV, _manage

PASSWORD = "violet harbour 47 lanterns"


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache_clear_this_run()  # allauth's counters (sign-ups, logins, confirmation mails) live in the cache
    yield
    cache_clear_this_run()


# ---------- a browser over HTTP, against the running web process ----------


class Browser(httpx.Client):
    """A person's browser: cookies kept, forms posted with the CSRF token from the cookie."""

    def post_form(self, path: str, data: dict) -> httpx.Response:
        if "csrftoken" not in self.cookies:
            self.get("/accounts/login/")
        return self.post(path, data={"csrfmiddlewaretoken": self.cookies["csrftoken"], **data})

    def sign_up(self, address: str) -> None:
        self.get("/accounts/signup/")
        answer = self.post_form("/accounts/signup/", {"email": address, "password1": PASSWORD, "password2": PASSWORD})
        assert answer.status_code == 302, (answer.status_code, answer.text[:500])
        self.get(answer.headers["location"], follow_redirects=True)  # the Studio, showing allauth's messages

    def messages(self, response: httpx.Response) -> list[str]:
        """The flash messages of the page a form's redirect leads to."""
        page = self.get(response.headers["location"]).text
        found = re.findall(r'<p class="message[^"]*">(.*?)</p>', page, re.S)
        return [html.unescape(re.sub(r"<[^>]+>", "", message)).strip() for message in found]


def _browser(web_url: str) -> Browser:
    return Browser(base_url=web_url, timeout=60, follow_redirects=False)


def _confirmation_path(address: str) -> str:
    """The confirmation link allauth mailed to `address` most recently (the web process's mails)."""
    links = []
    for path in sorted(Path(settings.EMAIL_FILE_PATH).glob("*.log"), key=lambda p: p.stat().st_mtime):
        for chunk in path.read_text(errors="replace").split("-" * 79):
            message = email.message_from_string(chunk.strip())
            if message["To"] and address.lower() in message["To"].lower():
                body = "".join(
                    part.get_payload(decode=True).decode(errors="replace")
                    for part in message.walk()
                    if part.get_content_type() == "text/plain"
                )
                links += re.findall(r"(/accounts/confirm-email/[^/\s]+/)", body)
    assert links, f"no confirmation mail to {address} in {settings.EMAIL_FILE_PATH}"
    return links[-1]


def _shared_team_session(owner_browser: Browser, owner_email: str):
    """The owner's team, and a session of theirs shared with it as viewer."""
    from accounts.models import User

    made = owner_browser.post_form("/teams/", {"name": "Finance board"})
    team_id = made.headers["location"].strip("/").split("/")[-1]
    owner = User.objects.get(email=owner_email)
    session = session_create(owner=owner, title="Quarterly figures, confidential")
    session_share(session=session, by=owner, team_id=team_id, role="viewer")
    return team_id, session


# ---------- invitations: the attack against the stack ----------


@pytest.mark.stack
def test_a_stranger_signing_up_with_an_invited_address_does_not_get_in(transactional_db, web_url):
    """The owner invites cfo@example.com; a stranger signs up with that address (verification is
    optional, so nothing stops the sign-up) and opens the shared session: 404, as for anyone else.
    The invitation waits for a verified address; the stranger sees only that, not whose team it is.
    Before: the sign-up joined the team at once and the session answered 200."""
    with _browser(web_url) as owner_browser, _browser(web_url) as stranger:
        owner_browser.sign_up("owner.finance@example.com")
        team_id, session = _shared_team_session(owner_browser, "owner.finance@example.com")
        owner_browser.post_form(f"/teams/{team_id}/", {"action": "invite", "email": "cfo@example.com"})

        stranger.sign_up("cfo@example.com")
        assert stranger.get(f"/studio/sessions/{session.id}/").status_code == 404
        teams_page = stranger.get("/teams/").text
        assert "An invitation to a team waits for <strong>cfo@example.com</strong>" in teams_page
        assert "Finance board" not in teams_page and "owner.finance" not in teams_page
        # The button sends allauth's verification mail (here to the stranger's own inbox, proving nothing).
        assert 'name="action_send"' in teams_page and 'action="/accounts/email/"' in teams_page

        # Guessing the invitation's number and posting "accept" or "decline" changes nothing.
        invitation = Invitation.objects.get(email="cfo@example.com")
        for action in ("accept", "decline"):
            answer = stranger.post_form(f"/teams/invitations/{invitation.id}/", {"action": action})
            assert "No such invitation for a verified address of yours." in stranger.messages(answer)
        assert stranger.get(f"/studio/sessions/{session.id}/").status_code == 404
        assert Invitation.objects.filter(id=invitation.id).exists()
        assert not Membership.objects.filter(team_id=team_id, user__email="cfo@example.com").exists()


@pytest.mark.stack
def test_an_unverified_secondary_address_joins_only_once_verified_and_accepted(transactional_db, web_url):
    """An existing account adds cfo.office@example.com (unverified) and the owner invites that
    address: the account does not join, and sees only that an invitation waits. It confirms the
    address through allauth's link from the mail, accepts on the Teams page, and sees the session.
    Before: an invite to an existing account joined it at once, without asking."""
    with _browser(web_url) as owner_browser, _browser(web_url) as member:
        owner_browser.sign_up("owner.office@example.com")
        team_id, session = _shared_team_session(owner_browser, "owner.office@example.com")
        member.sign_up("pat@example.com")
        added = member.post_form("/accounts/email/", {"action_add": "1", "email": "cfo.office@example.com"})
        assert added.status_code == 302
        assert not EmailAddress.objects.get(email="cfo.office@example.com").verified

        owner_browser.post_form(f"/teams/{team_id}/", {"action": "invite", "email": "cfo.office@example.com"})
        assert member.get(f"/studio/sessions/{session.id}/").status_code == 404
        assert "waits for <strong>cfo.office@example.com</strong>" in member.get("/teams/").text
        invitation = Invitation.objects.get(email="cfo.office@example.com")
        member.post_form(f"/teams/invitations/{invitation.id}/", {"action": "accept"})
        assert member.get(f"/studio/sessions/{session.id}/").status_code == 404

        # allauth's confirmation link, from the mail the web process sent when the address was added.
        link = _confirmation_path("cfo.office@example.com")
        assert member.get(link).status_code == 200
        confirmed = member.post_form(link, {})
        assert confirmed.status_code == 302
        assert EmailAddress.objects.get(email="cfo.office@example.com").verified
        teams_page = member.get("/teams/").text
        assert "Finance board" in teams_page and f'action="/teams/invitations/{invitation.id}/"' in teams_page
        # Still not a member: joining is the invitee's choice.
        assert member.get(f"/studio/sessions/{session.id}/").status_code == 404

        accepted = member.post_form(f"/teams/invitations/{invitation.id}/", {"action": "accept"})
        assert accepted.headers["location"] == f"/teams/{team_id}/"
        assert "You joined Finance board." in member.messages(accepted)
        page = member.get(f"/studio/sessions/{session.id}/")
        assert page.status_code == 200 and "Quarterly figures, confidential" in page.text
        assert not Invitation.objects.filter(id=invitation.id).exists()


@pytest.mark.stack
def test_an_unverified_address_made_primary_does_not_inherit_an_invitation(transactional_db, web_url):
    """An account with no verified address may make any address it adds its primary one (allauth
    allows it), and so becomes "cfo.primary@example.com" as far as User.email goes. Before: the
    owner's invitation of that address then added the account to the team at once (200)."""
    with _browser(web_url) as owner_browser, _browser(web_url) as stranger:
        owner_browser.sign_up("owner.primary@example.com")
        team_id, session = _shared_team_session(owner_browser, "owner.primary@example.com")
        stranger.sign_up("someone@example.com")
        stranger.post_form("/accounts/email/", {"action_add": "1", "email": "cfo.primary@example.com"})
        stranger.post_form("/accounts/email/", {"action_primary": "1", "email": "cfo.primary@example.com"})
        assert EmailAddress.objects.get(email="cfo.primary@example.com", verified=False).primary

        owner_browser.post_form(f"/teams/{team_id}/", {"action": "invite", "email": "cfo.primary@example.com"})
        assert stranger.get(f"/studio/sessions/{session.id}/").status_code == 404
        assert not Membership.objects.filter(team_id=team_id, user__email="cfo.primary@example.com").exists()


@pytest.mark.stack
def test_the_inviter_is_told_the_same_whether_or_not_the_address_has_an_account(transactional_db, web_url):
    """Before: "x joined the team." for a registered address, "x is invited…" for another, so an
    owner could probe which addresses have accounts."""
    with _browser(web_url) as owner_browser, _browser(web_url) as someone:
        someone.sign_up("registered@example.com")
        owner_browser.sign_up("owner.probe@example.com")
        made = owner_browser.post_form("/teams/", {"name": "Probe"})
        team_id = made.headers["location"].strip("/").split("/")[-1]
        answers = {}
        for address in ("registered@example.com", "nobody.here@example.com"):
            answer = owner_browser.post_form(f"/teams/{team_id}/", {"action": "invite", "email": address})
            answers[address] = [text.replace(address, "ADDRESS") for text in owner_browser.messages(answer)]
        assert answers["registered@example.com"] == answers["nobody.here@example.com"]
        assert answers["registered@example.com"] == [
            "ADDRESS is invited: they join when they accept the invitation from a verified address."
        ]
        assert not Membership.objects.filter(team_id=team_id, user__email="registered@example.com").exists()


def test_declining_from_a_verified_address_discards_the_invitation(db):
    owner, invitee = account_make("owner@example.com"), account_make("invitee@example.com")
    team = team_create(owner=owner, name="Crew")
    team_invite(team=team, by=owner, email="invitee@example.com")
    EmailAddress.objects.create(user=invitee, email="invitee@example.com", verified=True, primary=True)
    client = Client()
    client.force_login(invitee)
    invitation = Invitation.objects.get(team=team)
    answer = client.post(f"/teams/invitations/{invitation.id}/", {"action": "decline"}, follow=True)
    assert "You declined the invitation to Crew." in answer.content.decode()
    assert not Invitation.objects.exists() and not Membership.objects.filter(user=invitee).exists()


# ---------- the signup grant: at sign-up, or once an address is verified; never twice ----------


def _confirm(client: Client, address: EmailAddress) -> None:
    key = EmailConfirmationHMAC(address).key
    assert client.post(f"/accounts/confirm-email/{key}/").status_code == 302
    address.refresh_from_db()
    assert address.verified


def _grants(address: str) -> int:
    return LedgerEntry.objects.filter(user__email=address, kind="signup_grant").count()


def test_with_signup_grant_on_verified_the_credits_come_with_the_first_verified_address_only(db, settings):
    """Production's setting. Before: credits were given at sign-up to any typed address."""
    settings.SIGNUP_GRANT_ON = "verified"
    client = Client()
    client.post("/accounts/signup/", {"email": "grace@example.com", "password1": PASSWORD, "password2": PASSWORD})
    assert _grants("grace@example.com") == 0
    assert "Your welcome credits wait for a verified email address" in client.get("/account/").content.decode()
    _confirm(client, EmailAddress.objects.get(email="grace@example.com"))
    assert _grants("grace@example.com") == 1
    assert "Your welcome credits wait" not in client.get("/account/").content.decode()
    client.post("/accounts/email/", {"action_add": "1", "email": "grace.work@example.com"})
    _confirm(client, EmailAddress.objects.get(email="grace.work@example.com"))
    # The same service the signal calls, fired again: still one grant.
    email_verified(user=EmailAddress.objects.get(email="grace.work@example.com").user, email="grace.work@example.com")
    assert _grants("grace@example.com") == 1


def test_by_default_the_credits_come_at_sign_up_and_once(db):
    assert settings.SIGNUP_GRANT_ON == "signup"
    client = Client()
    client.post("/accounts/signup/", {"email": "ada2@example.com", "password1": PASSWORD, "password2": PASSWORD})
    assert _grants("ada2@example.com") == 1
    _confirm(client, EmailAddress.objects.get(email="ada2@example.com"))
    credits_signup_grant(EmailAddress.objects.get(email="ada2@example.com").user)
    assert _grants("ada2@example.com") == 1


# ---------- API token scopes ----------


def _api(secret: str | None = None) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}") if secret else Client()


def _speech_body(voice) -> dict:
    return {"text": "Hello.", "voice_id": str(voice.id), "model_name": "outetts_1_pro"}


def test_a_token_reaches_only_the_endpoints_of_its_scopes(user, builtin_voices):
    """A tokens-only token (say, a deploy script's) cannot speak, list voices or touch clones: 403
    FORBIDDEN in the envelope, nothing queued or charged. Before: every token could do everything."""
    voice = builtin_voices["EN-FEMALE-1-NEUTRAL"]
    _, secret = token_create(user=user, name="tokens only", scopes=["tokens"])
    api = _api(secret)
    forbidden = [
        api.get("/api/v1/voices"),
        api.post("/api/v1/tts_non_stream", _speech_body(voice), content_type="application/json"),
        api.post("/api/v1/tts_stream", _speech_body(voice), content_type="application/json"),
        Client().post(
            "/api/v1/tts",
            {"token": secret, "text": "Hi", "speaker": {"default": "EN-FEMALE-1-NEUTRAL"}},
            content_type="application/json",
        ),
        api.get("/api/v1/voice-clones"),
        api.post("/api/v1/voice-clones", {"name": "x", "audio_base64": "AAAA"}, content_type="application/json"),
        api.delete(f"/api/v1/voice-clones/{voice.id}"),
    ]
    for answer in forbidden:
        assert answer.status_code == 403, (answer.request["PATH_INFO"], answer.status_code)
        body = answer.json()
        assert body["success"] is False and body["code"] == "FORBIDDEN", body
    assert api.get("/api/v1/tokens").status_code == 200
    from studio.models import Generation

    assert not Generation.objects.exists()
    assert _grants(user.email) == 1 and LedgerEntry.objects.filter(user=user).count() == 1

    _, speech_secret = token_create(user=user, name="speech only", scopes=["speech"])
    assert _api(speech_secret).get("/api/v1/tokens").json()["code"] == "FORBIDDEN"
    assert _api(speech_secret).get("/api/v1/voices").status_code == 403


def test_a_token_made_without_scopes_has_every_scope_as_the_docs_describe(user):
    _, secret = token_create(user=user, name="old style")
    api = _api(secret)
    assert api.get("/api/v1/voices").status_code == 200
    assert api.get("/api/v1/voice-clones").status_code == 200
    listed = api.get("/api/v1/tokens").json()["data"]["tokens"]
    assert [token["scopes"] for token in listed] == [["speech", "voices", "tokens"]]
    made = api.post("/api/v1/tokens", {"name": "child"}, content_type="application/json")
    assert made.status_code == 201 and made.json()["data"]["scopes"] == ["speech", "voices", "tokens"]


def test_a_token_never_makes_a_token_broader_than_itself(user):
    """Before: a leaked token that could only manage tokens minted one that could do everything."""
    _, secret = token_create(user=user, name="tokens only", scopes=["tokens"])
    api = _api(secret)
    broader = api.post("/api/v1/tokens", {"name": "wider", "scopes": ["speech"]}, content_type="application/json")
    assert broader.status_code == 403 and broader.json()["code"] == "FORBIDDEN", broader.json()
    assert "speech" in broader.json()["message"]
    assert ApiToken.objects.filter(user=user).count() == 1
    # Without scopes it gets the maker's; the same scopes are fine.
    inherited = api.post("/api/v1/tokens", {"name": "same"}, content_type="application/json")
    assert inherited.status_code == 201 and inherited.json()["data"]["scopes"] == ["tokens"]
    narrow_child_secret = inherited.json()["data"]["token"]
    assert _api(narrow_child_secret).get("/api/v1/voices").status_code == 403
    unknown = api.post("/api/v1/tokens", {"name": "odd", "scopes": ["admin"]}, content_type="application/json")
    assert unknown.status_code == 400 and unknown.json()["code"] == "VALIDATION_ERROR"


def test_a_browser_session_makes_a_token_of_any_scopes_and_its_answer_is_not_cached(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    browser.get("/account/")
    csrf = browser.cookies["csrftoken"].value
    body = {"name": "speaker", "scopes": ["speech"]}
    made = browser.post("/api/v1/tokens", body, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert made.status_code == 201 and made.json()["data"]["scopes"] == ["speech"]
    assert "no-store" in made["Cache-Control"]


# ---------- the account page ----------


def test_the_account_page_showing_a_new_secret_is_never_cached(user):
    """Before: no Cache-Control, so a shared or back-button cache could keep the page with the secret."""
    client = Client()
    client.force_login(user)
    page = client.post("/account/tokens/new", {"name": "ci", "scopes_shown": "1", "scopes": ["speech", "voices"]})
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    token = ApiToken.objects.get(user=user, name="ci")
    assert token.scopes == ["speech", "voices"]
    assert "no-store" in client.get("/account/")["Cache-Control"]
    refused = client.post("/account/tokens/new", {"name": "none", "scopes_shown": "1"})
    assert refused.status_code == 400 and "Tick at least one." in refused.content.decode()


def test_the_account_page_revokes_every_token_at_once(user, other_user):
    secrets = [token_create(user=user, name=f"t{i}")[1] for i in range(3)]
    _, others_secret = token_create(user=other_user, name="someone else's")
    client = Client()
    client.force_login(user)
    answer = client.post("/account/tokens/revoke-all", follow=True)
    assert "3 tokens revoked." in answer.content.decode()
    for secret in secrets:
        assert _api(secret).get("/api/v1/voices").status_code == 401
    assert _api(others_secret).get("/api/v1/voices").status_code == 200


def _signed_in(email_address: str, password: str = "correct horse battery staple", **client_kwargs) -> Client:  # noqa: S107
    """Signed in through allauth's login form, as a browser is (so allauth records the session)."""
    client = Client(**client_kwargs)
    answer = client.post("/accounts/login/", {"login": email_address, "password": password})
    assert answer.status_code == 302, answer.content.decode()[:300]
    return client


def _is_signed_in(client: Client) -> bool:
    return client.get("/account/").status_code == 200


def test_the_account_page_signs_out_every_other_session(user):
    """allauth's user sessions: from one browser, the others (a lost laptop) are signed out."""
    here, laptop, phone = (_signed_in(user.email, HTTP_USER_AGENT=agent) for agent in ("here", "laptop", "phone"))
    assert all(_is_signed_in(client) for client in (here, laptop, phone))
    assert 'action="/accounts/sessions/"' in here.get("/account/").content.decode()
    assert here.post("/accounts/sessions/").status_code == 302
    assert _is_signed_in(here)
    assert not _is_signed_in(laptop) and not _is_signed_in(phone)


def test_a_password_change_or_reset_signs_out_the_other_sessions(user):
    """Held before too (Django checks each session against the password's hash); kept as a guard."""
    here, elsewhere = _signed_in(user.email), _signed_in(user.email)
    changed = here.post(
        "/accounts/password/change/",
        {"oldpassword": "correct horse battery staple", "password1": PASSWORD, "password2": PASSWORD},
    )
    assert changed.status_code == 302
    assert _is_signed_in(here) and not _is_signed_in(elsewhere)

    elsewhere = _signed_in(user.email, PASSWORD)
    Client().post("/accounts/password/reset/", {"email": user.email})
    link = re.search(r"(/accounts/password/reset/key/\S+/)", mail.outbox[-1].body).group(1)
    resetting = Client()
    form_page = resetting.get(link, follow=True)
    new_password = "amber lighthouse 93 kites"
    done = resetting.post(form_page.request["PATH_INFO"], {"password1": new_password, "password2": new_password})
    assert done.status_code == 302
    assert not _is_signed_in(elsewhere) and not _is_signed_in(here)


# ---------- the admin ----------


def test_the_admin_login_goes_through_allauths_rate_limited_login(db):
    """Before: /admin/login/ was Django's own form, with no limit on guesses."""
    from accounts.models import User

    User.objects.create_superuser(email="root@example.com", password=PASSWORD)
    guesser = Client()
    answer = guesser.post("/admin/login/?next=/admin/", {"username": "root@example.com", "password": PASSWORD})
    # Even the right password does nothing there: the admin's login sends to allauth's.
    assert answer.status_code == 302 and answer["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in guesser.session
    for _ in range(5):
        guesser.post("/accounts/login/", {"login": "root@example.com", "password": "wrong guess"})
    refused = guesser.post("/accounts/login/", {"login": "root@example.com", "password": PASSWORD})
    assert "_auth_user_id" not in guesser.session and "too many" in refused.content.decode().lower()


def test_granting_credits_in_the_admin_needs_its_own_permission(db, user):
    """A staff member who may edit accounts does not see, nor may post, "Grant or adjust credits".
    Before: any staff with access to accounts could mint credits."""
    from accounts.models import User

    clerk = User.objects.create_user(email="clerk@example.com", password=PASSWORD, is_staff=True)
    clerk.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    client = Client()
    client.force_login(clerk)
    assert "change_credits" not in client.get("/admin/accounts/user/").content.decode()
    posted = {"action": "change_credits", "_selected_action": [user.pk], "apply": "1", "amount": "500", "reason": "me"}
    client.post("/admin/accounts/user/", posted)
    assert list(LedgerEntry.objects.filter(user=user).values_list("kind", flat=True)) == ["signup_grant"]

    clerk.user_permissions.add(Permission.objects.get(codename="change_credits", content_type__app_label="billing"))
    clerk = User.objects.get(id=clerk.id)  # permissions are cached on the instance
    client.force_login(clerk)
    assert "change_credits" in client.get("/admin/accounts/user/").content.decode()
    client.post("/admin/accounts/user/", posted)
    assert LedgerEntry.objects.filter(user=user, kind="admin_grant", actor=clerk).count() == 1


# ---------- production settings ----------


@pytest.mark.parametrize(
    ("change", "variable"),
    [
        ({"DEBUG": "true"}, "DEBUG"),
        ({"SECRET_KEY": "dev-only-insecure-key-change-me"}, "SECRET_KEY"),
        ({"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}, "EMAIL_BACKEND"),
        ({"EMAIL_BACKEND": None}, "EMAIL_BACKEND"),  # unset: base.py's console default
        ({"ALLOWED_HOSTS": None}, "ALLOWED_HOSTS"),
    ],
)
def test_production_refuses_to_start_unsafe(change, variable):
    env = {k: v for k, v in {**PRODUCTION_ENV, **change}.items() if v is not None}
    result = _manage("check", env=env)
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr and variable in result.stderr.splitlines()[-1], result.stderr[-500:]


def _production_values(names: list[str], **extra_env: str) -> list:
    code = f"from django.conf import settings as s;import json;print(json.dumps([getattr(s, k) for k in {names!r}]))"
    result = _manage("shell", "-c", code, env={**PRODUCTION_ENV, **extra_env})
    assert result.returncode == 0, result.stderr
    import json

    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_gives_the_signup_grant_on_verification_and_trusts_the_proxy_only_when_behind_one():
    assert _production_values(["SIGNUP_GRANT_ON", "SECURE_PROXY_SSL_HEADER", "SECURE_HSTS_INCLUDE_SUBDOMAINS"]) == [
        "verified",
        ["HTTP_X_FORWARDED_PROTO", "https"],
        True,
    ]
    assert _production_values(["SECURE_PROXY_SSL_HEADER"], BEHIND_TLS_PROXY="false") == [None]
