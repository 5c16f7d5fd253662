"""The history (issue 15) without the stack: the selector's owner-only rule and its cursor (every
item exactly once while new ones are made), the filters, GET /api/v1/generations and each item's
audio (404 for anyone else's, Range), and the Studio's History page without a script."""

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import team_create, token_create
from studio.models import Generation, SessionShare
from studio.selectors import generations_history
from studio.services import session_create
from tests.conftest import team_join
from tests.test_account_isolation import _generation

pytestmark = pytest.mark.django_db


@pytest.fixture
def voice(builtin_voices):
    return builtin_voices["EN-FEMALE-1-NEUTRAL"]


@pytest.fixture
def other_voice(builtin_voices):
    return next(v for name, v in builtin_voices.items() if name != "EN-FEMALE-1-NEUTRAL")


def _made(user, voice, count: int, *, source: str = "api", session=None) -> list[Generation]:
    made = []
    for number in range(count):
        generation = _generation(session, user, voice, f"{source} text {number} {uuid.uuid4().hex[:6]}")
        Generation.objects.filter(id=generation.id).update(source=source)
        made.append(Generation.objects.get(id=generation.id))
    return made


def _api(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def _all_pages(user, **filters) -> list[str]:
    seen, after = [], None
    while True:
        page = generations_history(user=user, after=after, **filters)
        seen += [str(g.id) for g in page.items]
        if not page.has_more:
            assert page.next is None
            return seen
        after = page.next


# ---------- the selector ----------


def test_the_owner_sees_every_source_newest_first_and_nobody_else_does(user, other_user, voice):
    made = []
    for source in Generation.Source.values:
        made += _made(user, voice, 1, source=source)
    session = session_create(owner=user, title="mine")
    made += _made(user, voice, 1, source="studio", session=session)
    _made(other_user, voice, 2)
    page = generations_history(user=user, limit=100)
    assert [g.id for g in page.items] == [g.id for g in reversed(made)]
    assert {g.source for g in page.items} == set(Generation.Source.values)
    assert generations_history(user=other_user).items[0].user_id == other_user.id
    assert len(generations_history(user=other_user).items) == 2


def test_a_team_members_work_in_a_shared_session_is_theirs_not_the_owners(user, other_user, voice):
    team = team_create(owner=user, name="Team")
    team_join(team, owner=user, member=other_user)
    shared = session_create(owner=user, title="shared")
    SessionShare.objects.create(session=shared, team=team, role=SessionShare.Role.EDITOR)
    (theirs,) = _made(other_user, voice, 1, source="studio", session=shared)
    assert generations_history(user=user).items == []
    assert [g.id for g in generations_history(user=other_user).items] == [theirs.id]
    # Once they leave the team the session's work goes from their history too (as its audio does).
    SessionShare.objects.filter(session=shared).delete()
    assert generations_history(user=other_user).items == []


def test_deleted_generations_and_those_of_deleted_sessions_are_never_listed(user, voice):
    from django.utils import timezone

    session = session_create(owner=user, title="going")
    kept, deleted = _made(user, voice, 2)
    _made(user, voice, 1, source="studio", session=session)
    Generation.objects.filter(id=deleted.id).update(deleted_at=timezone.now())
    session.deleted_at = timezone.now()
    session.save(update_fields=["deleted_at"])
    assert [g.id for g in generations_history(user=user).items] == [kept.id]


def test_paging_covers_everything_exactly_once_while_new_generations_are_made(user, voice):
    before = [str(g.id) for g in _made(user, voice, 23)]
    # Two of them made in the same instant: the id breaks the tie, so neither is lost nor repeated.
    Generation.objects.filter(id__in=before[10:12]).update(created_at=Generation.objects.get(id=before[10]).created_at)
    seen, after, inserted = [], None, []
    while True:
        page = generations_history(user=user, after=after, limit=5)
        seen += [str(g.id) for g in page.items]
        inserted += [str(g.id) for g in _made(user, voice, 2)]  # newer: they belong before the cursor
        if not page.has_more:
            break
        after = page.next
    assert sorted(seen) == sorted(before) and len(seen) == len(set(seen))
    assert not set(inserted) & set(seen)
    assert sorted(_all_pages(user)) == sorted(before + inserted)


def test_the_filters_by_voice_and_by_source(user, voice, other_voice):
    spoken = _made(user, voice, 3, source="api")
    other = _made(user, other_voice, 2, source="legacy_api")
    assert set(_all_pages(user, voice=str(other_voice.id))) == {str(g.id) for g in other}
    assert set(_all_pages(user, source="api")) == {str(g.id) for g in spoken}
    assert _all_pages(user, voice=voice.id, source="legacy_api") == []


# ---------- the API ----------


@pytest.fixture
def secret(user, builtin_voices) -> str:
    return token_create(user=user, name="history")[1]


def test_the_api_lists_pages_in_the_envelope_with_each_items_fields(user, voice, secret):
    made = _made(user, voice, 3)
    first = _api(secret).get("/api/v1/generations", {"limit": 2})
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["success"] is True and body["data"]["has_more"] is True and body["data"]["next"]
    item = body["data"]["items"][0]
    newest = made[-1]
    assert item == {
        "id": str(newest.id),
        "text": newest.text,
        "voice": {"id": str(voice.id), "name": voice.speaker_name},
        "seconds": 0.5,
        "cost": "0.000",
        "source": "api",
        "status": "done",
        "created_at": newest.created_at.isoformat(),
        "audio_url": f"http://testserver/api/v1/generations/{newest.id}/audio",
    }
    rest = _api(secret).get("/api/v1/generations", {"limit": 2, "after": body["data"]["next"]}).json()["data"]
    assert [i["id"] for i in rest["items"]] == [str(made[0].id)]
    assert rest == {**rest, "has_more": False, "next": None}


@pytest.mark.parametrize(
    "query", [{"limit": 0}, {"limit": 101}, {"limit": "x"}, {"after": "nonsense"}, {"source": "?"}, {"voice": "x"}]
)
def test_the_api_refuses_a_limit_outside_1_to_100_and_a_bad_cursor_or_filter(secret, query):
    response = _api(secret).get("/api/v1/generations", query)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


def test_the_audio_is_the_owners_with_the_same_token_and_404_for_anyone_else(user, other_user, voice, secret):
    (generation,) = _made(user, voice, 1)
    audio_url = _api(secret).get("/api/v1/generations").json()["data"]["items"][0]["audio_url"]
    whole = _api(secret).get(audio_url)
    assert whole.status_code == 200 and whole["Content-Type"] == "audio/wav"
    body = b"".join(whole.streaming_content)
    assert body[:4] == b"RIFF" and whole["Accept-Ranges"] == "bytes"
    ranged = _api(secret).get(audio_url, HTTP_RANGE="bytes=0-43")
    assert ranged.status_code == 206 and ranged.content == body[:44]

    stranger = token_create(user=other_user, name="stranger")[1]
    for path in (audio_url, f"/api/v1/generations/{generation.id}", f"/api/v1/generations/{uuid.uuid4()}/audio"):
        refused = _api(stranger).get(path)
        assert refused.status_code == 404 and refused.json()["code"] == "NOT_FOUND", path
        assert generation.text not in refused.content.decode()
    assert _api(stranger).get("/api/v1/generations").json()["data"]["items"] == []


def test_the_history_takes_the_speech_scope(user, voice):
    voices_only = token_create(user=user, name="voices", scopes=["voices"])[1]
    assert _api(voices_only).get("/api/v1/generations").status_code == 403
    speech_only = token_create(user=user, name="speech", scopes=["speech"])[1]
    assert _api(speech_only).get("/api/v1/generations").status_code == 200


# ---------- the Studio page ----------


def test_the_history_page_lists_filters_and_pages_without_a_script(user, voice, other_voice, client):
    api_made = _made(user, voice, 22, source="api")
    (legacy,) = _made(user, other_voice, 1, source="legacy_api")
    client.force_login(user)
    page = client.get(reverse("studio:history")).content.decode()
    assert legacy.text in page and f'src="/studio/generations/{legacy.id}/audio"' in page
    assert f"/studio/generations/{legacy.id}/audio?download=1" in page
    assert 'rel="next"' in page and "Older" in page
    assert "studio/history.js" in page  # the player nicety; the list and the forms need none

    filtered = client.get(reverse("studio:history"), {"voice": other_voice.id}).content.decode()
    assert legacy.text in filtered and api_made[0].text not in filtered
    by_source = client.get(reverse("studio:history"), {"source": "api"}).content.decode()
    assert legacy.text not in by_source and api_made[-1].text in by_source

    # The next page keeps the filter and continues after the first 20.
    next_link = by_source.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0].replace("&amp;", "&")
    assert "source=api" in next_link
    second = client.get(reverse("studio:history") + next_link).content.decode()
    assert api_made[0].text in second and api_made[-1].text not in second and 'rel="next"' not in second

    refused = client.get(reverse("studio:history"), {"source": "nonsense"})
    assert refused.status_code == 302 and refused["Location"] == reverse("studio:history")


def test_the_history_page_is_the_viewers_own(user, other_user, voice, client):
    (mine,) = _made(user, voice, 1)
    client.force_login(other_user)
    assert mine.text not in client.get(reverse("studio:history")).content.decode()
    assert client.get(f"/studio/generations/{mine.id}/audio").status_code == 404
