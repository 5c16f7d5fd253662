"""Isolation between accounts, table-driven over the whole URLconf and the websocket routes.

One account (the owner) has one of everything: a private session, a session shared with a team as
viewer, generations with audio (Studio and API), a voice clone with its preview, an API token, a
team and a ledger entry. Every URL is requested for those objects by another account, by an
anonymous caller and by a member of the owner's team, and by the owner (so the table is known to
point at real objects). Nobody but the owner and, for the shared session, the member may get an
object; none of the owner's ids, texts, names, email or token prefix may appear in any other answer.

The table is keyed by the URLconf's routes: a new URL without an entry here fails
`test_every_route_is_in_the_table`.
"""

import asyncio
import io
import re
import wave
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from allauth.account.models import EmailAddress
from channels.testing import WebsocketCommunicator
from django.contrib.contenttypes.models import ContentType
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from accounts.models import ApiToken, Invitation, Membership, Team, User
from accounts.services import team_create, token_create
from billing.models import LedgerEntry
from billing.services import credits_admin_change, credits_signup_grant
from studio.models import Generation, Session, SessionShare
from studio.routing import websocket_urlpatterns
from studio.services import session_create
from tests.conftest import team_join
from voices.models import PronunciationRule, PronunciationShare, Voice

# Answers a caller may get. LOGIN: a redirect to the login page; ADMIN_LOGIN: to the admin's.
LOGIN, ADMIN_LOGIN, ANY = "login", "admin-login", "any"
CALLERS = ("anon", "other", "member", "owner")
# Third-party URL groups checked generically (every route of them is still requested).
ADMIN_PREFIX = "admin/"


def _walk(patterns, prefix: str = "") -> list[str]:
    routes = []
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            routes += _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            routes.append(prefix + str(pattern.pattern))
    return routes


def url_routes() -> list[str]:
    return sorted(set(_walk(get_resolver().url_patterns)))


def _tone_wav(seconds: float = 0.5) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(24_000)
        out.writeframes(b"\x00\x10\x00\xf0" * int(12_000 * seconds))
    return buffer.getvalue()


@dataclass
class World:
    owner: User
    member: User
    other: User
    shared: Session
    private: Session
    shared_generation: Generation
    private_generation: Generation
    api_generation: Generation
    clone: Voice
    token: ApiToken
    team: Team
    secrets: dict[str, str]  # name → owner's secret to look for
    member_may_see: set[str]  # names of secrets the member may see (the shared session, the team)
    bearer: dict[str, str] = field(default_factory=dict)  # caller → API secret
    clients: dict[str, Client] = field(default_factory=dict)  # caller → signed-in Client
    other_session: Session | None = None
    member_session: Session | None = None
    other_team: Team | None = None
    invitation: Invitation | None = None  # the owner's, to an address `other` typed but never verified
    rule: PronunciationRule | None = None  # the owner's pronunciation rule, shared with nobody


def _generation(session, user, voice, text: str) -> Generation:
    generation = Generation.objects.create(
        session=session,
        user=user,
        voice=voice,
        voice_name=voice.speaker_name,
        text=text,
        status="done",
        seconds=0.5,
        source="studio" if session else "api",
        words=_words_spread(text, seconds=0.5),
    )
    generation.audio.save(f"{user.id}/{generation.id}.wav", ContentFile(_tone_wav()))
    return generation


def _words_spread(text: str, *, seconds: float) -> list[dict]:
    """Word timings for a take that has no speech in it: the words spread evenly over it."""
    tokens = [(m.group(), m.start()) for m in re.finditer(r"\S+", text)]
    step = seconds / max(len(tokens), 1)
    return [
        {
            "text": t,
            "start": round(i * step, 3),
            "end": round((i + 0.8) * step, 3),
            "char_start": at,
            "char_end": at + len(t),
            "chunk": 1,
        }
        for i, (t, at) in enumerate(tokens)
    ]


@pytest.fixture
def world(db, builtin_voices) -> World:
    voice = builtin_voices["EN-FEMALE-1-NEUTRAL"]
    owner = User.objects.create_user(email="owner.zqx0@example.com", password="owner pass phrase 42")
    member = User.objects.create_user(email="member@example.com", password="member pass phrase 42")
    other = User.objects.create_user(email="mallory@example.com", password="mallory pass phrase 42")
    for account in (owner, member, other):
        credits_signup_grant(account)

    team = team_create(owner=owner, name="Owner team zqx6")
    team_join(team, owner=owner, member=member)
    shared = session_create(owner=owner, title="Owner shared session zqx1")
    SessionShare.objects.create(session=shared, team=team, role=SessionShare.Role.VIEWER)
    private = session_create(owner=owner, title="Owner private session zqx8")
    shared_generation = _generation(shared, owner, voice, "Owner shared text zqx2")
    private_generation = _generation(private, owner, voice, "Owner private text zqx9")
    api_generation = _generation(None, owner, voice, "Owner api text zqx3")
    clone = Voice.objects.create(
        speaker_name="Owner clone zqx4", kind=Voice.Kind.CLONE, owner=owner, engine_voice="", profile={"base": "female"}
    )
    clone.preview.save(f"{clone.id}.wav", ContentFile(_tone_wav()), save=True)
    token, owner_secret = token_create(user=owner, name="Owner token zqx5")
    credits_admin_change(user=owner, amount=1_234_567, actor=None, reason="Owner ledger zqx7")
    rule = PronunciationRule.objects.create(owner=owner, match="Ownerword zqxa", alias="Owner alias zqxb")

    secrets = {
        "email": owner.email,
        "shared_title": shared.title,
        "shared_id": str(shared.id),
        "private_title": private.title,
        "private_id": str(private.id),
        "shared_text": shared_generation.text,
        "shared_generation_id": str(shared_generation.id),
        "private_text": private_generation.text,
        "private_generation_id": str(private_generation.id),
        "api_text": api_generation.text,
        "api_generation_id": str(api_generation.id),
        "clone_name": clone.speaker_name,
        "clone_id": str(clone.id),
        "token_name": token.name,
        "token_id": str(token.id),
        "token_prefix": token.prefix,
        "token_secret": owner_secret,
        "team_name": team.name,
        "team_id": str(team.id),
        "ledger_reason": "Owner ledger zqx7",
        "rule_match": rule.match,
        "rule_alias": rule.alias,
        "rule_id": str(rule.id),
    }
    member_may_see = {
        "email",  # the team page lists its members
        "shared_title",
        "shared_id",
        "shared_text",
        "shared_generation_id",
        "team_name",
        "team_id",
    }
    world = World(
        owner=owner,
        member=member,
        other=other,
        shared=shared,
        private=private,
        shared_generation=shared_generation,
        private_generation=private_generation,
        api_generation=api_generation,
        clone=clone,
        token=token,
        team=team,
        secrets=secrets,
        member_may_see=member_may_see,
    )
    world.bearer = {
        "owner": owner_secret,
        "member": token_create(user=member, name="member's")[1],
        "other": token_create(user=other, name="other's")[1],
    }
    for name, account in (("owner", owner), ("member", member), ("other", other)):
        client = Client()
        client.force_login(account)
        world.clients[name] = client
    world.clients["anon"] = Client()
    world.other_session = session_create(owner=other, title="Other's own session")
    world.member_session = session_create(owner=member, title="Member's own session")
    world.other_team = team_create(owner=other, name="Other's own team")
    world.rule = rule
    world.invitation = Invitation.objects.create(team=team, email="cfo.zqx@example.com", invited_by=owner)
    EmailAddress.objects.create(user=other, email="cfo.zqx@example.com", verified=False)
    yield world
    for generation in (shared_generation, private_generation, api_generation):
        generation.audio.delete(save=False)
    clone.preview.delete(save=False)


# ---------- the table ----------


@dataclass
class Call:
    method: str
    url: Callable[[World, str], str]  # (world, caller) → URL
    expect: dict[str, object]  # caller → status, LOGIN, ADMIN_LOGIN or ANY; a caller left out is not tried
    api: bool = False  # authenticate with the caller's bearer token instead of the session
    data: object = None
    json: object = None
    intact: Callable[[World], bool] | None = None  # after the non-owners: the owner's object is unchanged


def pages(**expect) -> dict[str, object]:
    """Expectations for an owner's object under a login-protected page: others 404."""
    return {"anon": LOGIN, "other": 404, "member": 404, **expect}


def apis(**expect) -> dict[str, object]:
    return {"anon": 401, "other": 404, "member": 404, **expect}


def everyone(status: object = ANY) -> dict[str, object]:
    return dict.fromkeys(CALLERS, status)


def u(template: str) -> Callable[[World, str], str]:
    """A URL from a template filled with the world's ids."""

    def build(world: World, caller: str) -> str:
        return template.format(
            shared=world.shared.id,
            private=world.private.id,
            shared_gen=world.shared_generation.id,
            private_gen=world.private_generation.id,
            api_gen=world.api_generation.id,
            clone=world.clone.id,
            token=world.token.id,
            team=world.team.id,
            other_team=world.other_team.id,
            rule=world.rule.id,
        )

    return build


def _own_session(world: World, caller: str) -> Session:
    return {"other": world.other_session, "member": world.member_session}.get(caller, world.private)


def session_exists(world: World) -> bool:
    session = Session.objects.filter(id=world.shared.id).first()
    return session is not None and session.title == world.shared.title and session.shares.count() == 1


def generations_intact(world: World) -> bool:
    return Generation.objects.filter(user=world.owner).count() == 3 and Generation.objects.count() == 3


def clone_intact(world: World) -> bool:
    return Voice.objects.filter(id=world.clone.id, owner=world.owner).exists()


def token_intact(world: World) -> bool:
    return ApiToken.objects.get(id=world.token.id).revoked_at is None


def team_intact(world: World) -> bool:
    return (
        Team.objects.filter(id=world.team.id, name=world.team.name).exists()
        and Membership.objects.filter(team=world.team).count() == 2
    )


def rule_intact(world: World) -> bool:
    return PronunciationRule.objects.filter(id=world.rule.id, owner=world.owner, alias=world.rule.alias).exists()


def _speech(world: World, caller: str) -> dict:
    return {"text": "Speak in their voice.", "voice_id": str(world.clone.id), "model_name": "outetts_1_pro"}


ALLAUTH_ROUTES = [
    "accounts/login/",
    "accounts/logout/",
    "accounts/inactive/",
    "accounts/signup/",
    "accounts/reauthenticate/",
    "accounts/email/",
    "accounts/confirm-email/",
    "accounts/password/change/",
    "accounts/password/set/",
    "accounts/password/reset/",
    "accounts/login/code/confirm/",
    "accounts/^confirm-email/(?P<key>[-:\\w]+)/$",
    "accounts/password/reset/key/done/",
    "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$",
    "accounts/password/reset/done/",
    "accounts/sessions/",
]
ALLAUTH_URLS = {
    "accounts/^confirm-email/(?P<key>[-:\\w]+)/$": "/accounts/confirm-email/nokey/",
    "accounts/^password/reset/key/(?P<uidb36>[0-9A-Za-z]+)-(?P<key>.+)/$": "/accounts/password/reset/key/1-set/",
}

TABLE: dict[str, list[Call]] = {
    # Public and allauth pages: nobody's objects, checked for leaks only.
    "": [Call("GET", u("/"), {"anon": 200, "other": 302, "member": 302, "owner": 302})],
    **{
        route: [Call("GET", lambda w, c, route=route: ALLAUTH_URLS.get(route, "/" + route), everyone())]
        for route in ALLAUTH_ROUTES
    },
    # The account page (the ledger, the tokens) and token actions.
    "account/": [Call("GET", u("/account/"), {"anon": LOGIN, "other": 200, "member": 200, "owner": 200})],
    "account/tokens/new": [
        Call("POST", u("/account/tokens/new"), {"anon": LOGIN, "other": 200, "member": 200}, data={"name": "mine"})
    ],
    "account/tokens/revoke-all": [
        # Each caller revokes only their own tokens: the owner's stays.
        Call("POST", u("/account/tokens/revoke-all"), {"anon": LOGIN, "other": 302, "member": 302}, intact=token_intact)
    ],
    "account/tokens/<uuid:token_id>/revoke": [
        Call("POST", u("/account/tokens/{token}/revoke"), pages(), intact=token_intact)
    ],
    # Top up: each caller buys for themselves (payments are not configured here: back to the page);
    # Stripe's webhook takes no session, and an unsigned POST is refused whoever sends it.
    "billing/buy/": [
        Call("POST", u("/billing/buy/"), {"anon": LOGIN, "other": 302, "member": 302, "owner": 302}, data={"pack": "5"})
    ],
    "billing/stripe/webhook/": [
        Call("POST", u("/billing/stripe/webhook/"), {"anon": 400, "other": 400, "member": 400, "owner": 400})
    ],
    # Teams.
    "teams/": [
        Call("GET", u("/teams/"), {"anon": LOGIN, "other": 200, "member": 200, "owner": 200}),
        Call("POST", u("/teams/"), {"anon": LOGIN, "other": 302}, data={"name": "Another"}),
    ],
    # An invitation is answered only from the verified address it names: `other` typed it, no more.
    "teams/invitations/<int:invitation_id>/": [
        Call(
            "POST",
            lambda w, c: f"/teams/invitations/{w.invitation.id}/",
            {"anon": LOGIN, "other": 302, "member": 302},
            data={"action": "accept"},
            intact=lambda w: team_intact(w) and Invitation.objects.filter(id=w.invitation.id).exists(),
        ),
        Call(
            "POST",
            lambda w, c: f"/teams/invitations/{w.invitation.id}/",
            {"anon": LOGIN, "other": 302, "member": 302},
            data={"action": "decline"},
            intact=lambda w: Invitation.objects.filter(id=w.invitation.id).exists(),
        ),
    ],
    "teams/<uuid:team_id>/": [
        Call("GET", u("/teams/{team}/"), pages(member=200, owner=200)),
        # A member is refused with a message (a redirect to the team's page); the team stays.
        Call("POST", u("/teams/{team}/"), pages(member=302), data={"action": "delete"}, intact=team_intact),
        Call(
            "POST",
            u("/teams/{team}/"),
            pages(member=302),
            data={"action": "invite", "email": "x@example.com"},
            intact=team_intact,
        ),
        Call(
            "POST",
            lambda w, c: f"/teams/{w.team.id}/",
            pages(member=302),
            data={"action": "remove", "user_id": "{owner_id}"},
            intact=team_intact,
        ),
    ],
    # Voice clones and their previews.
    "studio/voices/": [Call("GET", u("/studio/voices/"), {"anon": LOGIN, "other": 200, "member": 200, "owner": 200})],
    "studio/voices/new": [Call("POST", u("/studio/voices/new"), {"anon": LOGIN, "other": 400, "member": 400})],
    "studio/voices/<uuid:voice_id>/delete": [
        Call("POST", u("/studio/voices/{clone}/delete"), pages(), intact=clone_intact)
    ],
    "studio/voices/<uuid:voice_id>/preview": [Call("GET", u("/studio/voices/{clone}/preview"), pages(owner=200))],
    # The pronunciation dictionary: each account's own (and what a team shares: test_pronunciation_dictionary).
    "studio/voices/pronunciations/": [
        Call("GET", u("/studio/voices/pronunciations/"), {"anon": LOGIN, "other": 200, "member": 200, "owner": 200})
    ],
    "studio/voices/pronunciations/new": [
        Call(
            "POST",
            u("/studio/voices/pronunciations/new"),
            {"anon": LOGIN, "other": 302, "member": 302},
            data={"match": "Mine", "kind": "alias", "says": "my own"},
            intact=rule_intact,
        )
    ],
    "studio/voices/pronunciations/<uuid:rule_id>/delete": [
        Call("POST", u("/studio/voices/pronunciations/{rule}/delete"), pages(), intact=rule_intact)
    ],
    "studio/voices/pronunciations/share": [
        # The owner's team: the member may share their own dictionary with it; a stranger may not.
        Call(
            "POST",
            u("/studio/voices/pronunciations/share"),
            {"anon": LOGIN, "other": 404, "member": 302},
            data={"team_id": "{team}", "action": "share"},
        ),
        Call(
            "POST",
            u("/studio/voices/pronunciations/share"),
            {"anon": LOGIN, "other": 302, "member": 302},
            data={"team_id": "{team}", "action": "unshare"},
        ),
    ],
    "studio/voices/pronunciations/import": [
        Call("POST", u("/studio/voices/pronunciations/import"), {"anon": LOGIN, "other": 400, "member": 400})
    ],
    "studio/voices/pronunciations/export": [
        Call(
            "GET",
            u("/studio/voices/pronunciations/export?format=csv"),
            {"anon": LOGIN, "other": 200, "member": 200, "owner": 200},
        )
    ],
    # Sessions.
    "studio/": [Call("GET", u("/studio/"), {"anon": LOGIN, "other": 302, "member": 302, "owner": 302})],
    "studio/sessions/new": [Call("POST", u("/studio/sessions/new"), {"anon": LOGIN, "other": 302, "member": 302})],
    "studio/sessions/<uuid:session_id>/": [
        Call("GET", u("/studio/sessions/{shared}/"), pages(member=200, owner=200)),
        Call("GET", u("/studio/sessions/{private}/"), pages(owner=200)),
        # The caller's own session: its sidebar and voice list show nothing of the owner's but what
        # is shared (the member's sidebar lists the shared session, never the private one).
        Call("GET", lambda w, c: f"/studio/sessions/{_own_session(w, c).id}/", everyone(200) | {"anon": LOGIN}),
    ],
    "studio/sessions/<uuid:session_id>/rename": [
        Call("POST", u("/studio/sessions/{shared}/rename"), pages(), data={"title": "Mine"}, intact=session_exists)
    ],
    "studio/sessions/<uuid:session_id>/delete": [
        Call("POST", u("/studio/sessions/{shared}/delete"), pages(), intact=session_exists)
    ],
    "studio/sessions/<uuid:session_id>/share": [
        Call(
            "POST",
            u("/studio/sessions/{shared}/share"),
            pages(),
            data={"unshare": "1"},
            intact=session_exists,
        ),
        Call(
            "POST",
            u("/studio/sessions/{shared}/share"),
            pages(),
            data={"team": "{other_team}", "role": "editor"},
            intact=session_exists,
        ),
    ],
    "studio/sessions/<uuid:session_id>/generations": [
        Call("GET", u("/studio/sessions/{shared}/generations"), pages(member=200, owner=200)),
        Call("GET", u("/studio/sessions/{private}/generations"), pages(owner=200)),
        Call(
            "POST",
            u("/studio/sessions/{shared}/generations"),
            pages(member=403),
            json={"text": "Let me in.", "voice_id": "EN-FEMALE-1-NEUTRAL"},
            intact=generations_intact,
        ),
        Call(
            "POST",
            u("/studio/sessions/{private}/generations"),
            pages(),
            json={"text": "Let me in.", "voice_id": "EN-FEMALE-1-NEUTRAL"},
            intact=generations_intact,
        ),
    ],
    "studio/generations/<uuid:generation_id>/audio": [
        Call("GET", u("/studio/generations/{shared_gen}/audio"), pages(member=200, owner=200)),
        Call("GET", u("/studio/generations/{shared_gen}/audio?download=1"), pages(member=200, owner=200)),
        Call("GET", u("/studio/generations/{private_gen}/audio"), pages(owner=200)),
        Call("GET", u("/studio/generations/{private_gen}/audio?format=mp3"), pages(owner=200)),
        Call("GET", u("/studio/generations/{api_gen}/audio"), pages(owner=200)),
        Call("GET", u("/studio/generations/{api_gen}/audio?format=mp3"), pages(owner=200)),
    ],
    "studio/generations/<uuid:generation_id>/captions": [
        Call("GET", u("/studio/generations/{shared_gen}/captions?format=srt"), pages(member=200, owner=200)),
        Call("GET", u("/studio/generations/{private_gen}/captions?format=vtt"), pages(owner=200)),
        Call("GET", u("/studio/generations/{api_gen}/captions"), pages(owner=200)),
    ],
    "studio/generations/<uuid:generation_id>/<str:action>": [
        Call("POST", u("/studio/generations/{shared_gen}/again"), pages(member=403), intact=generations_intact),
        Call("POST", u("/studio/generations/{shared_gen}/cancel"), pages(member=403), intact=generations_intact),
        Call("POST", u("/studio/generations/{shared_gen}/delete"), pages(member=403), intact=generations_intact),
        Call("POST", u("/studio/generations/{private_gen}/delete"), pages(), intact=generations_intact),
        Call("POST", u("/studio/generations/{private_gen}/again"), pages(), intact=generations_intact),
        Call("POST", u("/studio/generations/{api_gen}/delete"), pages(), intact=generations_intact),
        Call("POST", u("/studio/generations/{api_gen}/again"), pages(), intact=generations_intact),
        Call("POST", u("/studio/generations/{private_gen}/nonsense"), pages(owner=403)),
    ],
    # The API.
    "api/v1/openapi.json": [Call("GET", u("/api/v1/openapi.json"), everyone(200))],
    "api/v1/docs": [Call("GET", u("/api/v1/docs"), everyone(200))],
    "api/v1/": [Call("GET", u("/api/v1/"), everyone(404), api=True)],
    "api/v1/health": [Call("GET", u("/api/v1/health"), everyone(200), api=True)],
    "api/v1/voices": [Call("GET", u("/api/v1/voices"), {"anon": 401, "other": 200, "member": 200, "owner": 200}, True)],
    "api/v1/tts_non_stream": [
        Call("POST", u("/api/v1/tts_non_stream"), apis(), api=True, json=_speech, intact=generations_intact)
    ],
    "api/v1/tts_with_timestamps": [
        Call("POST", u("/api/v1/tts_with_timestamps"), apis(), api=True, json=_speech, intact=generations_intact)
    ],
    "api/v1/tts_stream": [
        Call("POST", u("/api/v1/tts_stream"), apis(), api=True, json=_speech, intact=generations_intact)
    ],
    "api/v1/tts_stream_with_timestamps": [
        Call("POST", u("/api/v1/tts_stream_with_timestamps"), apis(), api=True, json=_speech, intact=generations_intact)
    ],
    "api/v1/tts": [
        # The legacy API carries its token in the body; the owner's clone is nobody else's "custom" speaker.
        Call(
            "POST",
            u("/api/v1/tts"),
            {"other": 404, "member": 404},
            api=True,
            json=lambda w, caller: {
                "token": w.bearer[caller],
                "text": "Hi.",
                "speaker": {"custom": w.clone.speaker_name},
            },
            intact=generations_intact,
        ),
        Call(
            "POST",
            u("/api/v1/tts"),
            {"anon": 401},
            json={"token": "oute_" + "x" * 40, "text": "Hi.", "speaker": {"custom": "Owner clone zqx4"}},
            intact=generations_intact,
        ),
    ],
    # The history: each caller sees only what they made (a member not the owner's shared work).
    "studio/history/": [
        Call("GET", u("/studio/history/"), {"anon": LOGIN, "other": 200, "member": 200, "owner": 200}),
        Call("GET", u("/studio/history/?source=api"), {"anon": LOGIN, "other": 200, "member": 200, "owner": 200}),
    ],
    "api/v1/generations": [
        Call("GET", u("/api/v1/generations"), {"anon": 401, "other": 200, "member": 200, "owner": 200}, api=True)
    ],
    "api/v1/generations/<uuidstr:generation_id>": [
        Call("GET", u("/api/v1/generations/{shared_gen}"), apis(owner=200), api=True),
        Call("GET", u("/api/v1/generations/{private_gen}"), apis(owner=200), api=True),
        Call("GET", u("/api/v1/generations/{api_gen}"), apis(owner=200), api=True),
    ],
    "api/v1/generations/<uuidstr:generation_id>/captions": [
        Call("GET", u("/api/v1/generations/{shared_gen}/captions"), apis(owner=200), api=True),
        Call("GET", u("/api/v1/generations/{private_gen}/captions?format=vtt"), apis(owner=200), api=True),
        Call("GET", u("/api/v1/generations/{api_gen}/captions"), apis(owner=200), api=True),
    ],
    "api/v1/generations/<uuidstr:generation_id>/audio": [
        Call("GET", u("/api/v1/generations/{shared_gen}/audio"), apis(owner=200), api=True),
        Call("GET", u("/api/v1/generations/{private_gen}/audio"), apis(owner=200), api=True),
        Call("GET", u("/api/v1/generations/{api_gen}/audio"), apis(owner=200), api=True),
    ],
    # The OpenAI-compatible API: the same tokens; a clone is nobody else's voice.
    "v1/": [Call("GET", u("/v1/"), everyone(404), api=True)],
    "v1/openapi.json": [Call("GET", u("/v1/openapi.json"), everyone(200))],
    "v1/docs": [Call("GET", u("/v1/docs"), everyone(200))],
    "v1/models": [Call("GET", u("/v1/models"), {"anon": 401, "other": 200, "member": 200, "owner": 200}, api=True)],
    "v1/models/<model>": [
        Call("GET", u("/v1/models/tts-1"), {"anon": 401, "other": 200, "member": 200, "owner": 200}, api=True)
    ],
    "v1/audio/models": [
        Call("GET", u("/v1/audio/models"), {"anon": 401, "other": 200, "member": 200, "owner": 200}, api=True)
    ],
    "v1/audio/voices": [
        Call("GET", u("/v1/audio/voices"), {"anon": 401, "other": 200, "member": 200, "owner": 200}, api=True)
    ],
    "v1/audio/speech": [
        Call(
            "POST",
            u("/v1/audio/speech"),
            apis(),
            api=True,
            json=lambda w, caller: {"model": "tts-1", "input": "Speak in their voice.", "voice": str(w.clone.id)},
            intact=generations_intact,
        )
    ],
    "api/v1/tokens": [
        Call("GET", u("/api/v1/tokens"), {"anon": 401, "other": 200, "member": 200, "owner": 200}, api=True),
        # The same through the browser session (this endpoint takes both).
        Call("GET", u("/api/v1/tokens"), {"anon": 401, "other": 200, "member": 200, "owner": 200}),
        Call("POST", u("/api/v1/tokens"), {"anon": 401, "other": 201, "member": 201}, api=True, json={"name": "x"}),
    ],
    "api/v1/tokens/<uuidstr:token_id>": [
        Call("DELETE", u("/api/v1/tokens/{token}"), apis(), api=True, intact=token_intact),
        Call("DELETE", u("/api/v1/tokens/{token}"), apis(), intact=token_intact),
    ],
    "api/v1/voice-clones": [
        Call("GET", u("/api/v1/voice-clones"), {"anon": 401, "other": 200, "member": 200, "owner": 200}, api=True),
        Call("POST", u("/api/v1/voice-clones"), {"anon": 401, "other": 400, "member": 400}, api=True, json={}),
    ],
    "api/v1/pronunciations": [
        Call("GET", u("/api/v1/pronunciations"), {"anon": 401, "other": 200, "member": 200, "owner": 200}, api=True),
        Call(
            "POST",
            u("/api/v1/pronunciations"),
            {"anon": 401, "other": 201, "member": 201},
            api=True,
            json={"match": "Ownerword zqxa", "alias": "mine"},
            intact=rule_intact,
        ),
    ],
    "api/v1/pronunciations/<uuidstr:pronunciation_id>": [
        Call("DELETE", u("/api/v1/pronunciations/{rule}"), apis(), api=True, intact=rule_intact)
    ],
    "api/v1/pronunciations/import": [
        Call("POST", u("/api/v1/pronunciations/import"), {"anon": 401, "other": 400, "member": 400}, api=True, json={})
    ],
    "api/v1/pronunciations/export": [
        Call(
            "GET",
            u("/api/v1/pronunciations/export?format=csv"),
            {"anon": 401, "other": 200, "member": 200, "owner": 200},
            api=True,
        )
    ],
    "api/v1/voice-clones/<uuidstr:voice_id>": [
        Call("DELETE", u("/api/v1/voice-clones/{clone}"), apis(), api=True, intact=clone_intact)
    ],
}

WEBSOCKET_TABLE = {
    "ws/studio/sessions/<uuid:session_id>/": [
        # (which session, callers that may join)
        ("shared", {"owner", "member"}),
        ("private", {"owner"}),
    ],
    # The clone page's: every signed-in account joins, hearing only its own account's group
    # (tests/test_clone_fit.py: a stranger hears nothing of another's clone).
    "ws/voices/": [(None, {"owner", "member", "other"})],
}


# ---------- the checks ----------


def _forbidden(world: World, caller: str) -> dict[str, str]:
    if caller == "owner":
        return {}
    if caller == "member":
        return {k: v for k, v in world.secrets.items() if k not in world.member_may_see}
    return dict(world.secrets)


def _request(world: World, call: Call, caller: str):
    client = world.clients[caller]
    url = call.url(world, caller)
    extra = {}
    if call.api:
        client = Client()  # no session: the API authenticates with the bearer token alone
        if caller in world.bearer:
            extra["HTTP_AUTHORIZATION"] = f"Bearer {world.bearer[caller]}"
    kwargs = {}
    if call.json is not None:
        body = call.json(world, caller) if callable(call.json) else call.json
        kwargs = {"data": body, "content_type": "application/json"}
    elif call.data is not None:
        ids = {"other_team": world.other_team.id, "owner_id": world.owner.id, "team": world.team.id}
        kwargs = {"data": {k: v.format(**ids) for k, v in call.data.items()}}
    encoded = _encoded(kwargs)
    response = client.generic(call.method, url, **encoded, **extra)
    response.sent = url + str(encoded.get("data", ""))
    return url, response


def _encoded(kwargs: dict) -> dict:
    """Client.generic takes a body: JSON as text, a form urlencoded."""
    from urllib.parse import urlencode

    if "content_type" in kwargs:
        import json

        return {"data": json.dumps(kwargs["data"]), "content_type": kwargs["content_type"]}
    if "data" in kwargs:
        return {"data": urlencode(kwargs["data"]), "content_type": "application/x-www-form-urlencoded"}
    return {}


def _body(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode(errors="replace")
    return response.content.decode(errors="replace")


def _assert_answer(world: World, call: Call, caller: str, url: str, response) -> None:
    expected = call.expect[caller]
    where = f"{call.method} {url} as {caller}"
    body = _body(response)
    assert response.status_code < 500, (where, response.status_code, body[:300])
    if expected == LOGIN:
        assert response.status_code == 302, (where, response.status_code)
        assert response["Location"].startswith("/accounts/login/"), (where, response["Location"])
    elif expected == ADMIN_LOGIN:
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), where
    elif expected != ANY:
        assert response.status_code == expected, (where, response.status_code, body[:300])
    if url.startswith("/api/v1/") and response.status_code >= 400 and not url.startswith("/api/v1/docs"):
        envelope = response.json()
        assert envelope["success"] is False and envelope["code"] and envelope["message"], (where, envelope)
    if url.startswith("/v1/") and response.status_code >= 400:
        error = response.json()["error"]  # OpenAI's shape, which the openai package reads
        assert error["message"] and error["type"] and error["code"], (where, error)
    # What the caller sent may be echoed ("No custom speaker named …"); anything else may not.
    sent = getattr(response, "sent", url)
    forbidden = {name: secret for name, secret in _forbidden(world, caller).items() if secret not in sent}
    leaked = {name for name, secret in forbidden.items() if secret in body}
    assert not leaked, f"{where} answered {response.status_code} with the owner's {sorted(leaked)}"
    for header, value in response.items():
        if header.lower() == "location":
            # A login redirect names the page asked for (?next=): only what the caller sent.
            value = value.replace(url, "").replace(_quoted(url), "")
        leaked = {name for name, secret in forbidden.items() if secret in value}
        assert not leaked, f"{where}: header {header} carries the owner's {sorted(leaked)}"


def _quoted(url: str) -> str:
    from urllib.parse import quote

    return quote(url, safe="")


def test_every_route_is_in_the_table():
    """A new URL must be classified here (its isolation cases written) before this passes."""
    routes = {route for route in url_routes() if not route.startswith(ADMIN_PREFIX)}
    assert routes - set(TABLE) == set(), "URLs with no isolation cases: add them to TABLE"
    assert set(TABLE) - routes == set(), "TABLE lists URLs that are gone"
    websocket_routes = {str(pattern.pattern) for pattern in websocket_urlpatterns}
    assert websocket_routes == set(WEBSOCKET_TABLE)


@pytest.mark.parametrize("route", sorted(TABLE), ids=lambda route: route or "/")
def test_isolation_table(world, route, settings):
    settings.TTS_RATE_LIMIT_PER_MINUTE = 1000
    for call in TABLE[route]:
        for caller in CALLERS:
            if caller not in call.expect:
                continue
            if caller == "owner" and call.intact is not None:
                continue  # the owner may change their own objects; that is not what this checks
            url, response = _request(world, call, caller)
            _assert_answer(world, call, caller, url, response)
            if call.intact is not None:
                assert call.intact(world), f"{call.method} {url} as {caller} changed the owner's object"
    # Refusals cost nothing: the owner's and the other account's books are untouched by the others.
    assert not LedgerEntry.objects.filter(user=world.other).exclude(kind="signup_grant").exists()


def _admin_url(world: World, route: str) -> str:
    """An admin route filled with the owner's objects (their ids, their model's content type)."""
    by_model = {
        "studio/session": world.private.id,
        "studio/generation": world.private_generation.id,
        "voices/voice": world.clone.id,
        "voices/pronunciationrule": world.rule.id,
        "accounts/apitoken": world.token.id,
        "accounts/user": world.owner.id,
        "billing/ledgerentry": LedgerEntry.objects.filter(user=world.owner).first().id,
        "account/emailaddress": 1,
        "auth/group": 1,
    }
    model = "/".join(route.split("/")[1:3])
    values = {
        "<path:object_id>": str(by_model.get(model, world.private.id)),
        "<id>": str(world.owner.id),
        "<path:content_type_id>": str(ContentType.objects.get_for_model(Session).id),
        "^(?P<app_label>auth|account|billing|accounts|voices|studio)/$": "studio/",
        "(?P<url>.*)$": "studio/session/x/",
    }
    url = "/" + route
    for placeholder, value in values.items():
        url = url.replace(placeholder, value)
    if "<path:object_id>" not in route and route.startswith("admin/r/"):
        url = url.replace(str(by_model["studio/session"]), str(world.private.id))
    return url


def test_the_admin_is_staff_only_for_every_route(world):
    """Every admin route, for the owner's objects where it takes one: no account gets in."""
    admin_routes = [route for route in url_routes() if route.startswith(ADMIN_PREFIX)]
    assert len(admin_routes) > 20
    # The login page answers everyone; logging out would end the callers' sessions.
    open_routes = {"admin/login/", "admin/logout/"}
    for route in admin_routes:
        url = _admin_url(world, route)
        for caller in ("anon", "other", "owner"):
            for method in ("GET", "POST"):
                if route == "admin/logout/" and (method == "POST" or caller != "anon"):
                    continue
                response = world.clients[caller].generic(method, url)
                expected = ANY if route in open_routes else ADMIN_LOGIN
                if route.startswith(("admin/(?P<url>", "admin/^(")):
                    # Unknown admin paths and app lists: a login redirect or a 404, never a page.
                    expected = ADMIN_LOGIN if response.status_code == 302 else 404
                _assert_answer(world, Call(method, u(url), {caller: expected}), caller, url, response)


def test_a_shared_session_is_seen_by_members_only_and_stops_when_they_leave(world):
    member, other = world.clients["member"], world.clients["other"]
    shared_page = f"/studio/sessions/{world.shared.id}/"
    page = member.get(shared_page).content.decode()
    assert world.shared.title in page and world.shared_generation.text in page
    assert world.private.title not in page and world.private_generation.text not in page
    assert member.get(f"/studio/generations/{world.shared_generation.id}/audio").status_code == 200
    assert other.get(shared_page).status_code == 404
    # The member leaves the team: the session is no longer theirs to see.
    member.post(f"/teams/{world.team.id}/", {"action": "leave"})
    assert member.get(shared_page).status_code == 404
    assert member.get(f"/studio/generations/{world.shared_generation.id}/audio").status_code == 404
    assert world.shared.title not in member.get("/studio/voices/").content.decode()


@pytest.mark.django_db(transaction=True)
def test_websocket_table(world):
    """The session socket: the owner and, for the shared session, the member join; nobody else.
    The clone page's socket: any signed-in account, never a signed-out one."""
    from config.asgi import application

    def headers(caller: str) -> list[tuple[bytes, bytes]]:
        origin = [(b"origin", b"http://127.0.0.1")]
        if caller == "anon":
            return origin
        cookie = world.clients[caller].cookies["sessionid"].value
        return [(b"cookie", f"sessionid={cookie}".encode()), *origin]

    async def connect(path: str, caller: str) -> tuple[bool, object]:
        communicator = WebsocketCommunicator(application, path, headers=headers(caller))
        connected, code = await communicator.connect(timeout=5)
        if connected:
            await communicator.disconnect()
        return connected, code

    for route, cases in WEBSOCKET_TABLE.items():
        for which, allowed in cases:
            path = "/" + (route.replace("<uuid:session_id>", str(getattr(world, which).id)) if which else route)
            for caller in CALLERS:
                connected, code = asyncio.run(connect(path, caller))
                assert connected == (caller in allowed), (path, caller, code)
                if not connected:
                    assert code == 4404, (path, caller, code)


def test_a_shared_dictionary_is_used_by_members_only_and_stops_when_they_leave(world):
    """The owner shares their dictionary with the team: the member's list and generations have the
    rule (never to delete); a stranger's never; once the member leaves, nothing."""
    from voices.selectors import pronunciation_rules_for_user

    PronunciationShare.objects.create(owner=world.owner, team=world.team)
    member_api = Client(HTTP_AUTHORIZATION=f"Bearer {world.bearer['member']}")
    other_api = Client(HTTP_AUTHORIZATION=f"Bearer {world.bearer['other']}")
    listed = member_api.get("/api/v1/pronunciations").json()["data"]["pronunciations"]
    assert [(rule["match"], rule["shared"]) for rule in listed] == [(world.rule.match, True)]
    assert [rule.match for rule in pronunciation_rules_for_user(user=world.member)] == [world.rule.match]
    assert member_api.delete(f"/api/v1/pronunciations/{world.rule.id}").status_code == 404
    assert world.rule.match not in member_api.get("/api/v1/pronunciations/export?format=csv").content.decode()
    assert other_api.get("/api/v1/pronunciations").json()["data"]["pronunciations"] == []
    assert pronunciation_rules_for_user(user=world.other) == []

    world.clients["member"].post(f"/teams/{world.team.id}/", {"action": "leave"})
    assert member_api.get("/api/v1/pronunciations").json()["data"]["pronunciations"] == []
    assert pronunciation_rules_for_user(user=world.member) == []
    assert world.rule.match not in world.clients["member"].get("/studio/voices/pronunciations/").content.decode()
    assert member_api.delete(f"/api/v1/pronunciations/{world.rule.id}").status_code == 404
    assert rule_intact(world)
