"""Issue 12, sockets: an open Studio websocket ends the moment its user's access does, before any
later update; client frames and sockets per account are capped; the Studio page makes one
generation per press and shows Cancel / Delete only where the server allows them.

The sockets are real clients (`websockets`) of the stack's uvicorn, the generations run on its
worker and engine; access is taken away in this process, as the pages and the admin would.
"""

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass

import pytest
from django.test import Client
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from accounts.models import Membership, Team, User
from accounts.services import team_create, team_delete, team_leave, team_remove_member
from core.realtime import session_broadcast, websocket_lease_take
from studio.models import Generation, Session, SessionShare
from studio.services import generation_create, session_create, session_delete, session_share, session_unshare
from tests.conftest import account_make
from tests.waiting import generation_wait_finished, wait_for

pytestmark = pytest.mark.stack

PASSWORD = "correct horse battery staple"


@dataclass
class Shared:
    owner: User
    member: User
    team: Team
    session: Session
    share: SessionShare


@pytest.fixture
def shared(transactional_db, user) -> Shared:
    """The owner's session, shared with a team the member is in, as editors."""
    member = account_make("member@example.com")
    team = team_create(owner=user, name="Crew")
    Membership.objects.create(team=team, user=member)
    session = session_create(owner=user, title="Radio script")
    share = session_share(session=session, by=user, team_id=team.id, role="editor")
    return Shared(owner=user, member=member, team=team, session=session, share=share)


def _signed_in(user: User) -> str:
    """A new browser sign-in of the account: its session cookie."""
    client = Client()
    client.force_login(user)
    return client.cookies["sessionid"].value


def _open(web_url: str, session_id, session_key: str) -> ClientConnection:
    return connect(
        web_url.replace("http", "ws") + f"/ws/studio/sessions/{session_id}/",
        additional_headers={"Cookie": f"sessionid={session_key}", "Origin": web_url},
        open_timeout=30,
    )


def _until_closed(socket: ClientConnection, timeout: float = 60.0) -> tuple[list[dict], int]:
    """What the socket hears until the server closes it, and the close code."""
    heard = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            heard.append(json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic()))))
        except ConnectionClosed as closed:
            return heard, closed.rcvd.code if closed.rcvd else None
        except TimeoutError:
            raise AssertionError(f"the socket is still open after {timeout:.0f} s; it heard {heard}") from None


def _until_done(socket: ClientConnection, generation_id, timeout: float = 180.0) -> list[dict]:
    """What the socket hears until the generation ends."""
    heard = []
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(socket.recv(timeout=max(0.1, deadline - time.monotonic())))
        heard.append(event)
        state = event.get("generation") or {}
        if state.get("id") == str(generation_id) and state.get("status") in Generation.FINISHED:
            return heard


def _generate(user: User, session: Session, voices, text: str) -> Generation:
    return generation_create(user=user, session=session, text=text, voice_id=voices["EN-MALE-1-NEUTRAL"].id)


def _deactivate(user: User) -> None:
    user.is_active = False
    user.save(update_fields=["is_active"])


ACCESS_ENDS = {
    "removed from the team": lambda s: team_remove_member(team=s.team, by=s.owner, user_id=s.member.id),
    "left the team": lambda s: team_leave(team=s.team, user=s.member),
    "share revoked": lambda s: session_unshare(session=s.session, share_id=s.share.id),
    "team deleted": lambda s: team_delete(team=s.team, by=s.owner),
    "account deactivated": lambda s: _deactivate(s.member),
}


@pytest.mark.parametrize("ending", ACCESS_ENDS)
def test_the_socket_closes_when_access_ends_before_the_next_generation(ending, stack, web_url, shared, builtin_voices):
    """The member watches the shared session; their access ends, and at once the owner generates.
    The member's socket is closed with 4403 and never hears of that generation; the owner's
    socket hears all of it."""
    marker = f"Secret line {uuid.uuid4().hex[:8]} for the team."
    with (
        _open(web_url, shared.session.id, _signed_in(shared.member)) as member_socket,
        _open(web_url, shared.session.id, _signed_in(shared.owner)) as owner_socket,
    ):
        ACCESS_ENDS[ending](shared)
        generation = _generate(shared.owner, shared.session, builtin_voices, marker)
        owner_heard = _until_done(owner_socket, generation.id)
        member_heard, code = _until_closed(member_socket)

    assert code == 4403
    assert member_heard == [], "nothing came between the end of access and the close"
    assert owner_heard[-1]["generation"]["status"] == "done"
    assert all(event["generation"]["text"] == marker for event in owner_heard)


def test_a_removed_member_hears_nothing_the_worker_sends_after_the_removal(stack, web_url, shared, builtin_voices):
    """The member watches the worker's progress on a long generation and is removed midway. Every
    update the worker saves after the removal committed (more seconds of audio than the row had
    then) reaches the owner, and none reaches the member, whose socket is closed with 4403."""
    from tests.test_first_use_in_browser import LONG

    with (
        _open(web_url, shared.session.id, _signed_in(shared.member)) as member_socket,
        _open(web_url, shared.session.id, _signed_in(shared.owner)) as owner_socket,
    ):
        generation = _generate(shared.owner, shared.session, builtin_voices, LONG)
        while json.loads(member_socket.recv(timeout=120))["generation"]["seconds"] == 0:
            pass  # until the worker's audio is arriving
        team_remove_member(team=shared.team, by=shared.owner, user_id=shared.member.id)
        # As the updates carry it (rounded to the millisecond).
        seconds_at_removal = round(Generation.objects.get(id=generation.id).seconds, 3)
        member_heard, code = _until_closed(member_socket)
        owner_heard = _until_done(owner_socket, generation.id)

    assert code == 4403
    assert max((e["generation"]["seconds"] for e in member_heard), default=0) <= seconds_at_removal
    assert owner_heard[-1]["generation"]["seconds"] > seconds_at_removal, "the worker went on after the removal"


def test_a_socket_closes_when_its_session_is_deleted(stack, web_url, shared, builtin_voices):
    with (
        _open(web_url, shared.session.id, _signed_in(shared.member)) as member_socket,
        _open(web_url, shared.session.id, _signed_in(shared.owner)) as owner_socket,
    ):
        session_delete(session=shared.session)
        assert _until_closed(member_socket) == ([], 4404)
        assert _until_closed(owner_socket) == ([], 4404)


def test_signing_out_closes_that_browsers_sockets_only(stack, web_url, shared, builtin_voices):
    """The member is signed in on a laptop and a phone and signs out on the laptop: the laptop's
    socket closes with 4401 and hears nothing more; the phone's goes on hearing the session."""
    laptop, phone = _signed_in(shared.member), _signed_in(shared.member)
    marker = f"After the sign-out {uuid.uuid4().hex[:8]}."
    with (
        _open(web_url, shared.session.id, laptop) as laptop_socket,
        _open(web_url, shared.session.id, phone) as phone_socket,
    ):
        browser = Client()
        browser.cookies["sessionid"] = laptop
        assert browser.post("/accounts/logout/").status_code == 302
        generation = _generate(shared.owner, shared.session, builtin_voices, marker)
        phone_heard = _until_done(phone_socket, generation.id)
        laptop_heard, code = _until_closed(laptop_socket)

    assert (laptop_heard, code) == ([], 4401)
    assert phone_heard[-1]["generation"]["text"] == marker


def test_a_role_change_keeps_the_socket_and_the_buttons_follow_the_server(stack, web_url, shared, builtin_voices):
    """Editor to viewer is no loss of access: the socket stays open. Each update says what this
    viewer may do: Cancel and Delete on their own generation, neither on the owner's."""
    with _open(web_url, shared.session.id, _signed_in(shared.member)) as member_socket:
        session_share(session=shared.session, by=shared.owner, team_id=shared.team.id, role="viewer")
        owners = _generate(shared.owner, shared.session, builtin_voices, "The owner's line.")
        heard = _until_done(member_socket, owners.id)
        assert {(e["generation"]["can_cancel"], e["generation"]["can_delete"]) for e in heard} == {(False, False)}

        session_share(session=shared.session, by=shared.owner, team_id=shared.team.id, role="editor")
        own = _generate(shared.member, shared.session, builtin_voices, "The member's own line.")
        heard = _until_done(member_socket, own.id)
        unfinished = [e["generation"] for e in heard if e["generation"]["status"] not in Generation.FINISHED]
        assert unfinished and all(g["can_cancel"] and g["can_delete"] for g in unfinished)
        assert heard[-1]["generation"]["can_cancel"] is False and heard[-1]["generation"]["can_delete"] is True


# ---------- caps ----------


def test_a_large_client_frame_closes_the_socket(stack, web_url, user):
    session = session_create(owner=user)
    with _open(web_url, session.id, _signed_in(user)) as socket:
        socket.send(json.dumps({"type": "hello", "padding": "x" * 10_000}))
        assert _until_closed(socket) == ([], 1009)  # uvicorn's "message too big"


def test_any_client_frame_closes_the_socket(stack, web_url, user):
    session = session_create(owner=user)
    for frame in ['{"type": "generation.update"}', "not json", b"\x00\x01"]:
        with _open(web_url, session.id, _signed_in(user)) as socket:
            socket.send(frame)
            assert _until_closed(socket) == ([], 1008)


def _live(socket: ClientConnection, session_id) -> bool:
    """Whether the server still sends to the socket: a probe event on its session reaches it."""
    probe = str(uuid.uuid4())
    session_broadcast(session_id, {"type": "generation.deleted", "generation_id": probe})
    try:
        while json.loads(socket.recv(timeout=30)).get("generation_id") != probe:
            pass  # an earlier probe, sent to the other sockets
    except ConnectionClosed:
        return False
    return True


def test_sockets_per_account_are_capped_and_a_closed_one_frees_its_place(stack, web_url, user, settings):
    session = session_create(owner=user)
    sign_in = _signed_in(user)
    with ExitStack() as opened:
        sockets = [
            opened.enter_context(_open(web_url, session.id, sign_in)) for _ in range(settings.WEBSOCKETS_PER_USER_MAX)
        ]
        assert all(_live(socket, session.id) for socket in sockets)
        with _open(web_url, session.id, sign_in) as extra:
            assert _until_closed(extra) == ([], 4429)
        sockets[0].close()

        def another_is_taken() -> bool:
            with _open(web_url, session.id, sign_in) as socket:
                return _live(socket, session.id)

        wait_for(another_is_taken, timeout=30, what="a socket accepted after one closed")


def test_sockets_of_a_dead_web_process_stop_counting(stack, web_url, user, settings):
    """A web process that died never releases its sockets' places; they run out instead."""
    session = session_create(owner=user)
    sign_in = _signed_in(user)
    for _ in range(settings.WEBSOCKETS_PER_USER_MAX):
        assert websocket_lease_take(user_id=user.id, socket_id=f"dead-{uuid.uuid4()}", lease_seconds=600)
    with _open(web_url, session.id, sign_in) as refused:
        assert _until_closed(refused) == ([], 4429), "the places of live sockets count"

    other = account_make("grace@example.com")
    session = session_create(owner=other)
    for _ in range(settings.WEBSOCKETS_PER_USER_MAX):
        websocket_lease_take(user_id=other.id, socket_id=f"dead-{uuid.uuid4()}", lease_seconds=1)
    sign_in = _signed_in(other)

    def accepted() -> bool:
        with _open(web_url, session.id, sign_in) as socket:
            return _live(socket, session.id)

    wait_for(accepted, timeout=60, what="a socket accepted once the dead ones' places ran out")


@pytest.mark.django_db
def test_a_socket_renewing_its_place_is_not_counted_twice(settings):
    """What an open socket does every 20 s: renewing its own lease never needs a free place."""
    from core.realtime import websocket_lease_release

    settings.WEBSOCKETS_PER_USER_MAX = 2
    user_id = 10**9 + os.getpid()  # no account: the count is all this test looks at
    assert websocket_lease_take(user_id=user_id, socket_id="a") and websocket_lease_take(user_id=user_id, socket_id="b")
    assert not websocket_lease_take(user_id=user_id, socket_id="c")
    assert websocket_lease_take(user_id=user_id, socket_id="a"), "a renewal at the cap"
    websocket_lease_release(user_id=user_id, socket_id="a")
    assert websocket_lease_take(user_id=user_id, socket_id="c")
    for socket_id in "bc":
        websocket_lease_release(user_id=user_id, socket_id=socket_id)


# ---------- the Studio page ----------


@pytest.fixture
def browser(web_url, builtin_voices):
    # Playwright's sync API runs an event loop in this thread; the ORM is only used by the test.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    from tests.test_first_use_in_browser import CHROMIUM, CHROMIUM_ARGS

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def _page(browser, web_url: str, user: User, session: Session):
    from tests.test_first_use_in_browser import sign_in

    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.console_errors = []
    page.on("pageerror", lambda error: page.console_errors.append(str(error)))
    sign_in(page, web_url, user.email, PASSWORD)
    page.goto(f"{web_url}/studio/sessions/{session.id}/")
    page.wait_for_selector("#connection[data-state=open]")
    return page


def _in_thread(function, **kwargs):
    """Services that broadcast may not run in Playwright's thread, which runs an event loop."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(function, **kwargs).result()


def test_enter_pressed_twice_makes_one_generation(stack, browser, web_url, user):
    session = session_create(owner=user)
    page = _page(browser, web_url, user, session)
    composer = page.get_by_label("Text to speak")
    composer.fill("Pressed twice, spoken once.")
    composer.press("Enter")
    composer.press("Enter")
    page.wait_for_selector(".gen")
    page.wait_for_selector("#composer:not([aria-busy])")
    generation_wait_finished(Generation.objects.get(session=session).id)
    assert Generation.objects.filter(session=session).count() == 1
    assert page.locator(".gen").count() == 1
    assert page.console_errors == []


def _made(user: User, session: Session, voices, text: str, status: str) -> Generation:
    """A generation as the feed shows it, left in `status` (no worker takes it: it is not queued)."""
    voice = voices["EN-MALE-1-NEUTRAL"]
    return Generation.objects.create(
        user=user, session=session, voice=voice, voice_name=voice.speaker_name, text=text, status=status
    )


def _buttons(page, generation: Generation) -> list[str]:
    return page.locator(f"#gen-{generation.id} .gen-actions button").all_inner_texts()


def test_a_viewer_sees_neither_cancel_nor_delete(stack, browser, web_url, shared, builtin_voices):
    _in_thread(session_share, session=shared.session, by=shared.owner, team_id=shared.team.id, role="viewer")
    running = _made(shared.owner, shared.session, builtin_voices, "Still speaking.", "running")
    done = _made(shared.owner, shared.session, builtin_voices, "Spoken.", "done")
    viewer_page = _page(browser, web_url, shared.member, shared.session)
    owner_page = _page(browser, web_url, shared.owner, shared.session)
    assert _buttons(viewer_page, running) == [] and _buttons(viewer_page, done) == []
    assert _buttons(owner_page, running) == ["Cancel"]
    assert _buttons(owner_page, done) == ["Generate again", "Delete"]
    assert viewer_page.console_errors == [] and owner_page.console_errors == []


def test_an_editor_sees_delete_only_on_their_own_generations(stack, browser, web_url, shared, builtin_voices):
    owners = _in_thread(_generate, user=shared.owner, session=shared.session, voices=builtin_voices, text="Owner's.")
    own = _in_thread(_generate, user=shared.member, session=shared.session, voices=builtin_voices, text="Editor's.")
    generation_wait_finished(owners.id)
    generation_wait_finished(own.id)
    page = _page(browser, web_url, shared.member, shared.session)
    assert page.locator(f"#gen-{own.id}").get_by_role("button", name="Delete").count() == 1
    assert page.locator(f"#gen-{owners.id}").get_by_role("button", name="Delete").count() == 0

    # And on what arrives over the socket.
    later = _in_thread(_generate, user=shared.owner, session=shared.session, voices=builtin_voices, text="Later.")
    page.wait_for_selector(f"#gen-{later.id}[data-status=done] .play-button", timeout=120_000)
    assert page.locator(f"#gen-{later.id} button", has_text="Delete").count() == 0
    assert page.locator(f"#gen-{later.id}").get_by_role("button", name="Generate again").count() == 1
    assert page.console_errors == []


def test_the_page_says_access_ended_and_stops_reconnecting(stack, browser, web_url, shared):
    page = _page(browser, web_url, shared.member, shared.session)
    sockets = []
    page.on("websocket", lambda socket: sockets.append(socket))
    _in_thread(team_remove_member, team=shared.team, by=shared.owner, user_id=shared.member.id)
    page.wait_for_selector("#connection[data-state=closed]", timeout=30_000)
    assert page.locator("#connection").inner_text() == "You no longer have access to this session."
    assert page.locator("#composer-submit").is_disabled()
    page.wait_for_timeout(2_000)
    assert sockets == [], "the page does not reconnect"


PASSWORD = "correct horse battery staple"


def _browser(user: User) -> tuple[Client, str]:
    """A browser signed in to the account through the sign-in form (so allauth records the sign-in
    in its list of sessions): the client and its session cookie."""
    client = Client()
    signed_in = client.post("/accounts/login/", {"login": user.email, "password": PASSWORD})
    assert signed_in.status_code == 302, signed_in.content[:300]
    return client, client.cookies["sessionid"].value


def test_signing_out_every_other_session_closes_their_sockets(stack, web_url, shared, builtin_voices):
    """The account page's "Sign out every other session": the phone's socket closes with 4401 and
    hears nothing more; the laptop that asked keeps hearing the session."""
    laptop, laptop_key = _browser(shared.member)
    _, phone_key = _browser(shared.member)
    marker = f"After the other sign-ins ended {uuid.uuid4().hex[:8]}."
    with (
        _open(web_url, shared.session.id, laptop_key) as laptop_socket,
        _open(web_url, shared.session.id, phone_key) as phone_socket,
    ):
        assert laptop.post("/accounts/sessions/").status_code == 302
        generation = _generate(shared.owner, shared.session, builtin_voices, marker)
        laptop_heard = _until_done(laptop_socket, generation.id)
        phone_heard, code = _until_closed(phone_socket)

    assert (phone_heard, code) == ([], 4401)
    assert laptop_heard[-1]["generation"]["text"] == marker


def test_a_password_change_closes_the_other_sign_ins_sockets(stack, web_url, shared, builtin_voices):
    """A new password signs the other browsers out (Django's session hash): their sockets close
    before the next update. The browser that changed it is signed in again under a new key, so its
    socket closes too (the page sees it may still follow the session and reconnects)."""
    laptop, laptop_key = _browser(shared.member)
    _, phone_key = _browser(shared.member)
    marker = f"After the new password {uuid.uuid4().hex[:8]}."
    with (
        _open(web_url, shared.session.id, laptop_key) as laptop_socket,
        _open(web_url, shared.session.id, phone_key) as phone_socket,
    ):
        new = "amber lighthouse 93 kites"
        changed = laptop.post(
            "/accounts/password/change/",
            {"oldpassword": PASSWORD, "password1": new, "password2": new},
        )
        assert changed.status_code == 302
        generation = _generate(shared.owner, shared.session, builtin_voices, marker)
        phone_heard, code = _until_closed(phone_socket)
        laptop_heard, _ = _until_closed(laptop_socket)
        assert laptop.get(f"/studio/sessions/{shared.session.id}/generations").status_code == 200

    assert (phone_heard, code) == ([], 4403)
    assert all(event["generation"]["id"] != str(generation.id) for event in laptop_heard)
