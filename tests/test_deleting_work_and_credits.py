"""Issue 12, money: deleting unfinished work never strands credits nor leaves audio behind, the books
are proved by `credits check`, hostile amounts are refused, a removed member gets 404.

The deleting attacks run against the real stack (web under uvicorn, Celery worker, engine): the page's
own requests delete work the worker is running, and what a user (and an operator) would see after
is checked: nothing held, the books clean, no WAV left in MEDIA_ROOT."""

from io import StringIO
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db.models import ProtectedError
from django.test import Client
from django.utils import timezone

from accounts.models import Membership
from accounts.services import team_create, team_remove_member
from billing.models import Hold, LedgerEntry, Wallet
from billing.selectors import ledger_sum, wallet_for
from billing.services import credits_admin_change
from studio.job.run import generation_run
from studio.job.sweep import generations_sweep
from studio.models import Generation, Session
from studio.services import generation_cancel, generation_create, session_create
from tests.conftest import account_make
from tests.test_sessions_and_teams import _done
from tests.waiting import wait_for

CSRF = "b" * 32
# Long enough that the CPU engine is still speaking it, chunk after chunk, when the delete comes.
LONG_TEXT = " ".join(
    f"This is sentence number {n} of a long reading, and it goes on for a while before it ends." for n in range(40)
)


def credits_check() -> None:
    """The operator's command; fails the test with the problems it prints."""
    problems = StringIO()
    try:
        call_command("credits", "check", stdout=StringIO(), stderr=problems)
    except CommandError as error:
        pytest.fail(f"{error}: {problems.getvalue()}")


def audio_files_of(generation_id) -> list[Path]:
    return list((Path(settings.MEDIA_ROOT) / "audio").rglob(f"*{generation_id}*"))


class Page:
    """A signed-in browser against the running web process: the Studio's own requests."""

    def __init__(self, web_url: str, user) -> None:
        client = Client()
        client.force_login(user)
        self.web_url = web_url
        self.headers = {
            "Cookie": f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}",
            "X-CSRFToken": CSRF,
            "Origin": web_url,
            "Referer": f"{web_url}/studio/",
        }

    def post(self, path: str, **kwargs) -> httpx.Response:
        return httpx.post(f"{self.web_url}{path}", headers=self.headers, timeout=60, **kwargs)

    def get(self, path: str) -> httpx.Response:
        return httpx.get(f"{self.web_url}{path}", headers=self.headers, timeout=60)

    def generate(self, session: Session, voice, text: str = LONG_TEXT) -> str:
        made = self.post(f"/studio/sessions/{session.id}/generations", json={"text": text, "voice_id": str(voice.id)})
        assert made.status_code == 201, made.text
        return made.json()["generation"]["id"]


def wait_until(generation_id, condition, what: str) -> None:
    wait_for(lambda: condition(Generation.objects.get(id=generation_id)), timeout=180, what=what)


def speaking(generation: Generation) -> bool:
    """Running, with its first chunk of audio made (so its hold settles at more than nothing)."""
    return generation.status == Generation.Status.RUNNING and generation.seconds > 0


def assert_nothing_left(generation_ids, *users) -> None:
    """What the deleter and the operator see once the work has ended: no row, no audio file,
    nothing held, every wallet proved by `credits check`."""
    wait_for(
        lambda: not Generation.objects.filter(id__in=generation_ids).exists(), timeout=180, what="generations removed"
    )
    wait_for(
        lambda: not any(audio_files_of(generation_id) for generation_id in generation_ids),
        timeout=30,
        what="no WAV of a deleted generation left in MEDIA_ROOT",
    )
    for user in users:
        wallet = wallet_for(user)
        assert wallet.held == 0, f"{user.email}: {wallet.held} µcr held for good"
        assert wallet.balance == ledger_sum(user)
    assert not Hold.objects.filter(settled_at__isnull=True).exists()
    credits_check()


@pytest.fixture
def voice(builtin_voices):
    return builtin_voices["EN-MALE-1-NEUTRAL"]


@pytest.fixture
def editor(transactional_db):
    return account_make("editor@example.com")


# ---------- deleting unfinished work, on the real stack ----------


@pytest.mark.stack
def test_deleting_a_session_whose_generation_is_running_strands_nothing(stack, web_url, user, voice):
    page = Page(web_url, user)
    session = session_create(owner=user)
    generation_id = page.generate(session, voice)
    wait_until(generation_id, speaking, "the generation speaking")

    deleted = page.post(f"/studio/sessions/{session.id}/delete")
    assert deleted.status_code == 302
    assert page.get(f"/studio/sessions/{session.id}/").status_code == 404, "hidden at once"
    assert page.get(f"/studio/generations/{generation_id}/audio").status_code == 404

    assert_nothing_left([generation_id], user)
    assert not Session.objects.filter(id=session.id).exists()
    charge = LedgerEntry.objects.get(user=user, kind="generation")
    assert charge.amount < 0, "the audio made before the stop is paid for, and only that"


@pytest.mark.stack
def test_deleting_a_running_generation_strands_nothing(stack, web_url, user, voice):
    page = Page(web_url, user)
    session = session_create(owner=user)
    generation_id = page.generate(session, voice)
    wait_until(generation_id, speaking, "the generation speaking")

    assert page.post(f"/studio/generations/{generation_id}/delete").json() == {"ok": True}
    feed = page.get(f"/studio/sessions/{session.id}/generations").json()["generations"]
    assert generation_id not in [state["id"] for state in feed], "gone from the feed at once"

    assert_nothing_left([generation_id], user)
    assert Session.objects.filter(id=session.id).exists(), "its session stays"


@pytest.mark.stack
def test_deleting_a_session_with_a_queued_generation_behind_the_accounts_share(stack, web_url, user, voice):
    credits_admin_change(user=user, amount=5_000_000, actor=None, reason="room for three long texts")
    page = Page(web_url, user)
    session = session_create(owner=user)
    share = settings.GENERATION_ACCOUNT_CONCURRENCY
    running = [page.generate(session, voice) for _ in range(share)]
    for generation_id in running:
        wait_until(generation_id, lambda g: g.status == Generation.Status.RUNNING, "the account's share running")
    queued = page.generate(session, voice)
    assert Generation.objects.get(id=queued).status == Generation.Status.QUEUED

    assert page.post(f"/studio/sessions/{session.id}/delete").status_code == 302
    assert not Generation.objects.filter(id=queued).exists(), "a queued one ends, settled at 0, and goes at once"
    assert_nothing_left([*running, queued], user)


@pytest.mark.stack
def test_deleting_only_a_queued_generation_releases_its_hold_at_once(stack, web_url, user, voice):
    credits_admin_change(user=user, amount=5_000_000, actor=None, reason="room for three long texts")
    page = Page(web_url, user)
    session = session_create(owner=user)
    running = [page.generate(session, voice) for _ in range(settings.GENERATION_ACCOUNT_CONCURRENCY)]
    for generation_id in running:
        wait_until(generation_id, lambda g: g.status == Generation.Status.RUNNING, "the account's share running")
    queued = page.generate(session, voice)

    assert page.post(f"/studio/generations/{queued}/delete").json() == {"ok": True}
    assert not Generation.objects.filter(id=queued).exists()
    assert wallet_for(user).held == sum(Hold.objects.filter(generation_id__in=running).values_list("amount", flat=True))
    credits_check()
    assert page.post(f"/studio/sessions/{session.id}/delete").status_code == 302
    assert_nothing_left(running, user)


@pytest.mark.stack
def test_an_owner_deleting_an_editors_running_generation_strands_none_of_the_editors_credits(
    stack, web_url, user, editor, voice
):
    team = team_create(owner=user, name="Crew")
    Membership.objects.create(team=team, user=editor, role=Membership.Role.MEMBER)
    session = session_create(owner=user, title="Shared work")
    owner_page, editor_page = Page(web_url, user), Page(web_url, editor)
    assert owner_page.post(f"/studio/sessions/{session.id}/share", data={"team": team.id, "role": "editor"}).is_redirect
    generation_id = editor_page.generate(session, voice)
    wait_until(generation_id, speaking, "the editor's generation speaking")

    assert owner_page.post(f"/studio/generations/{generation_id}/delete").json() == {"ok": True}

    assert_nothing_left([generation_id], editor, user)
    assert LedgerEntry.objects.get(kind="generation").user == editor, "the editor pays for the audio made"


@pytest.mark.stack
def test_the_admin_cannot_delete_unfinished_work(stack, admin_user, user, voice):
    admin = Client()
    admin.force_login(admin_user)
    session = session_create(owner=user)
    generation = generation_create(user=user, session=session, text=LONG_TEXT, voice_id=voice.id)
    wait_until(generation.id, speaking, "the generation speaking")

    assert admin.post(f"/admin/studio/generation/{generation.id}/delete/", {"post": "yes"}).status_code == 403
    assert admin.post(f"/admin/studio/session/{session.id}/delete/", {"post": "yes"}).status_code == 403
    for path, pk in (("studio/generation", generation.id), ("studio/session", session.id)):
        bulk = admin.post(f"/admin/{path}/", {"action": "delete_selected", "_selected_action": [pk], "post": "yes"})
        assert bulk.status_code == 200 and b"under way" in bulk.content
    account = admin.post(f"/admin/accounts/user/{user.id}/delete/", {"post": "yes"})
    assert account.status_code == 200 and b"Cannot delete user" in account.content, "nor the account paying for it"
    assert Generation.objects.filter(id=generation.id).exists() and wallet_for(user).held > 0
    credits_check()

    generation_cancel(generation_id=generation.id)
    wait_until(generation.id, lambda g: g.is_finished, "the cancelled generation ending")
    assert admin.post(f"/admin/studio/session/{session.id}/delete/", {"post": "yes"}).status_code == 302
    assert_nothing_left([generation.id], user)


def test_a_deleted_job_taken_again_ends_at_once_and_goes(user, builtin_voices):
    """A worker died under a job that was then deleted: given back by the sweep, the worker that
    takes it next ends it, settled, and removes it, without speaking it or crashing on it."""
    session = session_create(owner=user)
    generation = generation_create(
        user=user, session=session, text="Deleted in flight.", voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id
    )
    Generation.objects.filter(id=generation.id).update(status=Generation.Status.QUEUED, attempts=1)  # given back
    Session.objects.filter(id=session.id).update(deleted_at=timezone.now())
    Generation.objects.filter(id=generation.id).update(deleted_at=timezone.now())

    generation_run(generation_id=generation.id)

    assert not Generation.objects.filter(id=generation.id).exists()
    assert not Session.objects.filter(id=session.id).exists()
    assert wallet_for(user).held == 0 and wallet_for(user).balance == 1_000_000
    credits_check()


def test_the_sweep_removes_deleted_work_that_has_ended(transactional_db, user, builtin_voices):
    session = session_create(owner=user)
    generation = _done(session, user, builtin_voices)
    assert audio_files_of(generation.id)
    Generation.objects.filter(id=generation.id).update(deleted_at=timezone.now())  # its job's end did not get to it

    generations_sweep()

    assert not Generation.objects.filter(id=generation.id).exists()
    assert not audio_files_of(generation.id)
    assert Session.objects.filter(id=session.id).exists(), "a session not deleted stays"


# ---------- holds, accounts and the books ----------


def test_an_open_hold_is_never_deleted(user, builtin_voices):
    generation = generation_create(
        user=user, session=session_create(owner=user), text="Hold on.", voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id
    )
    with pytest.raises(ProtectedError):
        Generation.objects.filter(id=generation.id).delete()
    with pytest.raises(ProtectedError):
        user.delete()
    assert wallet_for(user).held == Hold.objects.get(generation=generation).amount
    generation_cancel(generation_id=generation.id)
    Generation.objects.filter(id=generation.id).delete()  # settled: it goes with its generation
    user.delete()
    assert not Wallet.objects.exists() and not Hold.objects.exists()


def test_credits_check_finds_what_does_not_add_up(user, other_user, builtin_voices):
    generation_create(
        user=user, session=session_create(owner=user), text="Hold on.", voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id
    )
    credits_check()
    out = StringIO()
    call_command("credits", "check", stdout=out)
    assert "2 accounts" in out.getvalue()

    Wallet.objects.filter(user=user).update(held=0)
    LedgerEntry.objects.filter(user=other_user).update(balance_after=7)
    Wallet.objects.filter(user=other_user).update(balance=2_000_000)
    problems = StringIO()
    with pytest.raises(CommandError, match="3 problems"):
        call_command("credits", "check", stdout=StringIO(), stderr=problems)
    lines = problems.getvalue()
    assert "held 0.000 but its open holds sum to" in lines
    assert "balance 2.000 but its ledger sums to 1.000" in lines
    assert "says balance 0.000007 after it" in lines


# ---------- hostile amounts ----------

HOSTILE_AMOUNTS = ["1e999999999", "-1e999999999", "1e-999999999", "nan", "inf", "-Infinity", "sNaN", "-0", "0.0"]
HOSTILE_AMOUNTS += ["99999999999999999999999999", str(2**63), "1.0000001", "1" * 41]


@pytest.mark.parametrize("amount", HOSTILE_AMOUNTS)
def test_credits_grant_refuses_hostile_amounts_cleanly(user, amount):
    with pytest.raises(CommandError) as refused:
        call_command("credits", "grant", user.email, amount, "--reason", "attack", stdout=StringIO())
    assert str(refused.value)
    assert wallet_for(user).balance == 1_000_000 == ledger_sum(user)
    assert LedgerEntry.objects.filter(user=user).count() == 1


@pytest.mark.parametrize("amount", ["1e999999999", "nan", "-0", "1e-999999999", "99999999999999999999999999"])
def test_the_admin_credits_form_refuses_hostile_amounts_cleanly(admin_client, user, amount):
    response = admin_client.post(
        "/admin/accounts/user/",
        {"action": "change_credits", "_selected_action": [user.pk], "apply": "1", "amount": amount, "reason": "x"},
    )
    assert response.status_code == 200
    assert b"errorlist" in response.content
    assert wallet_for(user).balance == 1_000_000 == ledger_sum(user)


def test_a_balance_never_grows_beyond_what_the_ledger_stores(user):
    for _ in range(3):
        call_command("credits", "grant", user.email, "1e9", "--reason", "big", stdout=StringIO())
    Wallet.objects.filter(user=user).update(balance=10**18 - 1)
    LedgerEntry.objects.filter(user=user).delete()
    with pytest.raises(CommandError, match="would exceed"):
        call_command("credits", "grant", user.email, "1", "--reason", "overflow", stdout=StringIO())


# ---------- a removed member ----------


def test_a_removed_member_acting_on_their_own_generation_gets_404(user, builtin_voices):
    member = account_make("member@example.com")
    team = team_create(owner=user, name="Crew")
    Membership.objects.create(team=team, user=member, role=Membership.Role.MEMBER)
    session = session_create(owner=user, title="Shared work")
    owner = Client()
    owner.force_login(user)
    owner.post(f"/studio/sessions/{session.id}/share", {"team": str(team.id), "role": "editor"})
    made = _done(session, member, builtin_voices)
    queued = generation_create(user=member, session=session, text="Still queued.", voice_id=made.voice_id)
    team_remove_member(team=team, by=user, user_id=member.id)

    page = Client(raise_request_exception=False)
    page.force_login(member)
    for generation in (made, queued):
        for action in ("cancel", "delete", "again"):
            assert page.post(f"/studio/generations/{generation.id}/{action}").status_code == 404, action
    assert page.get(f"/studio/generations/{made.id}/audio?download=1").status_code == 404
    assert Generation.objects.filter(id__in=[made.id, queued.id]).count() == 2
    assert Generation.objects.get(id=queued.id).status == Generation.Status.QUEUED


def test_deleting_an_account_removes_its_audio_and_its_voices_files(transactional_db, user, builtin_voices):
    """An account deleted in the admin (or the shell) takes its generations' WAVs and its clones'
    previews with it: nothing of it is left on disk."""
    from django.core.files.base import ContentFile

    from core.audio import wav_from_pcm
    from voices.models import Voice

    generation = _done(session_create(owner=user), user, builtin_voices)
    clone = Voice.objects.create(speaker_name="Mine", kind=Voice.Kind.CLONE, owner=user, engine_voice="", profile={})
    clone.preview.save(f"{clone.id}.wav", ContentFile(wav_from_pcm(b"\0\0" * 2400)), save=True)
    files = [Path(generation.audio.path), Path(clone.preview.path)]
    assert all(path.exists() for path in files)

    user.delete()

    assert [path for path in files if path.exists()] == []
