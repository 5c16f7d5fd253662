"""Sessions, generation actions, teams and shared sessions, through the pages (no stack needed:
the audio is written by the test)."""

import asyncio
from pathlib import Path

import pytest
from channels.testing import WebsocketCommunicator
from django.core.files.base import ContentFile
from django.test import Client

from accounts.models import Invitation, Membership, Team
from accounts.services import team_create, team_invite
from core.audio import wav_from_pcm
from studio.models import Generation, Session, SessionShare
from studio.services import session_create
from tests.conftest import account_make, team_join


def login(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def member(db):
    return account_make("member@example.com", "member pass phrase 42")


def _done(session, user, builtin_voices, text="Hello there.") -> Generation:
    voice = builtin_voices["EN-FEMALE-1-NEUTRAL"]
    generation = Generation.objects.create(
        session=session, user=user, voice=voice, voice_name=voice.speaker_name, text=text, status="done", seconds=1.0
    )
    tone = (b"\x00\x10\x00\xf0") * 12_000
    generation.audio.save(f"{user.id}/{generation.id}.wav", ContentFile(wav_from_pcm(tone)))
    return generation


def test_sessions_are_renamed_deleted_and_listed_newest_first(transactional_db, user, builtin_voices):
    client = login(user)
    first = session_create(owner=user, title="First")
    second = session_create(owner=user, title="Second")
    page = client.get(f"/studio/sessions/{first.id}/").content.decode()
    sidebar = page[page.index('class="session-list"') :]
    assert sidebar.index("Second") < sidebar.index("First")
    client.post(f"/studio/sessions/{first.id}/rename", {"title": "  Renamed  "})
    first.refresh_from_db()
    assert first.title == "Renamed"
    generation = _done(second, user, builtin_voices)
    path = generation.audio.path
    client.post(f"/studio/sessions/{second.id}/delete")
    assert not Session.objects.filter(id=second.id).exists() and not Generation.objects.exists()
    assert not Path(path).exists(), "the session's audio goes with it"


def test_sidebar_is_paged(user):
    for index in range(35):
        session_create(owner=user, title=f"Session {index:02d}")
    client = login(user)
    newest = Session.objects.filter(owner=user).order_by("-updated_at").first()

    def sidebar(query: str = "") -> str:
        page = client.get(f"/studio/sessions/{newest.id}/{query}").content.decode()
        return page[page.index('class="session-list"') : page.index("<section")]

    first = sidebar()
    assert "Session 34" in first and "Session 00" not in first and "Older" in first and "Newer" not in first
    second = sidebar("?sessions=2")
    assert "Session 00" in second and "Session 34" not in second and "Newer" in second and "Older" not in second
    # A page past the end shows the last; one that is not a number, the first.
    assert sidebar("?sessions=9") == second
    assert sidebar("?sessions=x") == first


def test_generation_actions_delete_again_and_mp3(user, builtin_voices):
    client = login(user)
    session = session_create(owner=user)
    generation = _done(session, user, builtin_voices)
    mp3 = client.get(f"/studio/generations/{generation.id}/audio?format=mp3")
    assert mp3.status_code == 200 and mp3["Content-Type"] == "audio/mpeg"
    mp3_bytes = b"".join(mp3.streaming_content)  # the stored rendition, served as a file
    assert mp3_bytes[:3] == b"ID3" or mp3_bytes[0] == 0xFF
    assert ".mp3" in mp3["Content-Disposition"]
    again = client.post(f"/studio/generations/{generation.id}/again")
    assert again.status_code == 201
    assert again.json()["generation"]["text"] == generation.text
    assert client.post(f"/studio/generations/{generation.id}/delete").json() == {"ok": True}
    assert not Generation.objects.filter(id=generation.id).exists()
    assert client.post(f"/studio/generations/{generation.id}/delete").status_code == 404


def test_cancel_of_a_queued_generation(user, builtin_voices):
    client = login(user)
    session = session_create(owner=user)
    made = client.post(
        f"/studio/sessions/{session.id}/generations",
        {"text": "Cancel me.", "voice_id": str(builtin_voices["EN-MALE-1-NEUTRAL"].id)},
        content_type="application/json",
    ).json()["generation"]
    assert client.post(f"/studio/generations/{made['id']}/cancel").json() == {"ok": True}
    assert Generation.objects.get(id=made["id"]).status == "cancelled"


def test_an_invitation_waits_for_the_invitee_to_accept_from_a_verified_address(user, member):
    team = team_create(owner=user, name="Crew")
    assert "invited" in team_invite(team=team, by=user, email="MEMBER@example.com")
    assert not Membership.objects.filter(team=team, user=member).exists()
    assert "invited" in team_invite(team=team, by=user, email="later@example.com")
    assert Invitation.objects.filter(team=team, email="later@example.com").exists()
    Client().post(
        "/accounts/signup/",
        {"email": "later@example.com", "password1": "a long pass phrase 42", "password2": "a long pass phrase 42"},
    )
    # Signing up with the address proves nothing: the invitation waits.
    assert not Membership.objects.filter(team=team, user__email="later@example.com").exists()
    team_join(team, owner=user, member=member)
    assert Membership.objects.filter(team=team, user=member, role="member").exists()
    assert not Invitation.objects.filter(email="member@example.com").exists()


def test_team_pages_members_leave_and_owners_remove(user, member, other_user):
    owner_page = login(user)
    team_id = owner_page.post("/teams/", {"name": "Crew"}).url.split("/")[2]
    team = Team.objects.get(id=team_id)
    team_join(team, owner=user, member=member)
    team_join(team, owner=user, member=other_user)
    assert login(member).get(f"/teams/{team_id}/").status_code == 200
    login(member).post(f"/teams/{team_id}/", {"action": "leave"})
    assert login(member).get(f"/teams/{team_id}/").status_code == 404
    owner_page.post(f"/teams/{team_id}/", {"action": "remove", "user_id": other_user.id})
    assert login(other_user).get(f"/teams/{team_id}/").status_code == 404
    # A member may not remove anyone, nor invite.
    owner_page.post(f"/teams/{team_id}/", {"action": "invite", "email": member.email})
    login(member).post(f"/teams/{team_id}/", {"action": "remove", "user_id": user.id})
    login(member).post(f"/teams/{team_id}/", {"action": "invite", "email": "x@example.com"})
    assert Membership.objects.filter(team_id=team_id, user=user, role="owner").exists()
    assert not Invitation.objects.filter(email="x@example.com").exists()


def _shared(user, member, builtin_voices, role: str):
    team = team_create(owner=user, name="Crew")
    team_join(team, owner=user, member=member)
    session = session_create(owner=user, title="Shared work")
    login(user).post(f"/studio/sessions/{session.id}/share", {"team": str(team.id), "role": role})
    assert SessionShare.objects.get(session=session).role == role
    return session, _done(session, user, builtin_voices)


def test_a_viewer_listens_and_downloads_but_cannot_generate(user, member, builtin_voices):
    session, generation = _shared(user, member, builtin_voices, "viewer")
    client = login(member)
    page = client.get(f"/studio/sessions/{session.id}/")
    assert page.status_code == 200 and "composer-text" not in page.content.decode()
    assert "shared" in client.get(f"/studio/sessions/{session.id}/").content.decode()
    assert client.get(f"/studio/generations/{generation.id}/audio").status_code == 200
    refused = client.post(
        f"/studio/sessions/{session.id}/generations",
        {"text": "Let me in.", "voice_id": str(generation.voice_id)},
        content_type="application/json",
    )
    assert refused.status_code == 403
    assert client.post(f"/studio/generations/{generation.id}/again").status_code == 403
    assert client.post(f"/studio/generations/{generation.id}/delete").status_code == 403
    assert client.post(f"/studio/sessions/{session.id}/rename", {"title": "Mine now"}).status_code == 404
    assert Generation.objects.count() == 1


def test_an_editor_generates_and_pays_for_it(user, member, builtin_voices):
    session, _ = _shared(user, member, builtin_voices, "editor")
    made = login(member).post(
        f"/studio/sessions/{session.id}/generations",
        {"text": "An editor speaks.", "voice_id": str(builtin_voices["EN-MALE-1-NEUTRAL"].id)},
        content_type="application/json",
    )
    assert made.status_code == 201
    generation = Generation.objects.get(id=made.json()["generation"]["id"])
    assert generation.user == member and generation.session == session
    assert generation.hold.user == member, "the member who generates pays"


def test_non_members_get_404_for_a_shared_sessions_page_audio_and_socket(user, member, other_user, builtin_voices):
    session, generation = _shared(user, member, builtin_voices, "editor")
    stranger = login(other_user)
    for url in [
        f"/studio/sessions/{session.id}/",
        f"/studio/sessions/{session.id}/generations",
        f"/studio/generations/{generation.id}/audio",
        f"/studio/generations/{generation.id}/audio?format=mp3",
    ]:
        assert stranger.get(url).status_code == 404, url
    for url in [f"/studio/generations/{generation.id}/again", f"/studio/generations/{generation.id}/delete"]:
        assert stranger.post(url).status_code == 404, url
    assert Session.objects.get(id=session.id).title == "Shared work"


@pytest.mark.django_db(transaction=True)
def test_the_socket_of_a_shared_session_lets_members_in_and_others_not(user, member, other_user, builtin_voices):
    from config.asgi import application

    session, _ = _shared(user, member, builtin_voices, "viewer")

    def headers(who):
        client = login(who)
        return [
            (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()),
            (b"origin", b"http://localhost"),
        ]

    callers = {"member": headers(member), "stranger": headers(other_user)}

    async def connect_all():
        results = {}
        for name, h in callers.items():
            communicator = WebsocketCommunicator(application, f"/ws/studio/sessions/{session.id}/", headers=h)
            results[name], _ = await communicator.connect()
            if results[name]:
                await communicator.disconnect()
        return results

    assert asyncio.run(connect_all()) == {"member": True, "stranger": False}


def test_a_long_feed_shows_its_latest_fifty_and_pages_back(user, builtin_voices):
    session = session_create(owner=user)
    voice = builtin_voices["EN-MALE-1-NEUTRAL"]
    made = [
        Generation.objects.create(
            session=session, user=user, voice=voice, voice_name=voice.speaker_name, text=f"Line {i:02d}", status="done"
        )
        for i in range(55)
    ]
    client = login(user)
    page = client.get(f"/studio/sessions/{session.id}/").content.decode()
    feed = page[page.index('id="feed-data"') :]
    assert "Line 54" in feed and "Line 05" in feed and "Line 04" not in feed
    assert f"?before={made[5].id}" in page
    earlier = client.get(f"/studio/sessions/{session.id}/?before={made[5].id}").content.decode()
    earlier_feed = earlier[earlier.index('id="feed-data"') :]
    assert "Line 04" in earlier_feed and "Line 00" in earlier_feed and "Line 05" not in earlier_feed
    since = client.get(f"/studio/sessions/{session.id}/generations?since={made[50].id}").json()["generations"]
    assert [g["text"] for g in since] == [f"Line {i}" for i in range(50, 55)]
