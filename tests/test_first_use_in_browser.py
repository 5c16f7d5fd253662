"""The first-use flow in a real browser: sign up, type, Enter, live progress, play, download.

Playwright drives Debian's Chromium against the stack's web, worker and engine processes.
"""

import os
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.audio_checks import japanese_morae, rms_dbfs, transcribe, wav_info, word_error_rate

pytestmark = [pytest.mark.stack, pytest.mark.browser]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
TEXT = "We will meet at the station at noon and take the train to the city."


@pytest.fixture
def browser_page(web_url, builtin_voices):
    # Playwright's sync API runs an event loop in this thread; the ORM is only used by fixtures.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.console_errors = []
        page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
        page.on("pageerror", lambda error: page.console_errors.append(str(error)))
        yield page
        browser.close()


def test_sign_up_generate_watch_progress_play_and_download(transactional_db, browser_page, web_url, tmp_path):
    page = browser_page
    page.goto(web_url)
    page.get_by_role("link", name="Create a free account").click()
    page.get_by_label("Email").fill("listener@example.com")
    page.get_by_label("Password:", exact=True).fill("a long pass phrase 42")
    page.get_by_label("Password (again):").fill("a long pass phrase 42")
    page.get_by_role("button", name="Sign Up").click()

    page.wait_for_url("**/studio/sessions/*/")
    page.wait_for_selector("#connection[data-state=open]")
    composer = page.get_by_label("Text to speak")
    composer.fill("Hello")
    composer.press("Shift+Enter")
    assert composer.input_value() == "Hello\n", "Shift+Enter should start a new line"
    composer.fill(TEXT)
    assert page.locator("#composer-count").inner_text().startswith(f"{len(TEXT)} /")
    page.get_by_label("Voice", exact=True).select_option(label="EN-FEMALE-1-NEUTRAL · Female")
    composer.press("Enter")

    item = page.locator(".gen").first
    item.wait_for()
    assert item.locator(".gen-text").inner_text() == TEXT
    # The composer empties once the generation is accepted (its item may show first, by websocket).
    page.wait_for_function("document.getElementById('composer-text').value === ''")
    # Live progress arrives over the websocket, with no reload.
    page.wait_for_function(
        "document.querySelector('.gen .gen-status')?.textContent.startsWith('Generating part')", timeout=120_000
    )
    page.wait_for_selector(".gen[data-status=done] .play-button", timeout=120_000)
    assert "EN-FEMALE-1-NEUTRAL" in item.locator(".gen-meta").inner_text()
    # wavesurfer draws the waveform into the player.
    page.wait_for_function("document.querySelector('.gen .wave')?.firstElementChild?.shadowRoot !== null")

    item.get_by_role("button", name="Play").click()
    page.wait_for_function("document.querySelector('.gen .play-button').textContent === 'Pause'")

    with page.expect_download() as download_info:
        item.get_by_role("link", name="Download WAV").click()
    path = tmp_path / "download.wav"
    download_info.value.save_as(path)
    wav = path.read_bytes()
    rate, channels, width, seconds = wav_info(wav)
    assert (rate, channels, width) == (24_000, 1, 2)
    assert seconds > 2 and rms_dbfs(wav) > -35
    assert word_error_rate(TEXT, transcribe(wav)) <= 0.35

    # Sessions persist: after a reload the feed still holds the generation and its player.
    page.reload()
    page.wait_for_selector(".gen[data-status=done] .play-button")
    assert page.console_errors == []


def test_composer_refuses_empty_text_with_a_message(transactional_db, browser_page, web_url, user):
    page = browser_page
    page.goto(f"{web_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/studio/sessions/*/")
    page.get_by_label("Text to speak").press("Enter")
    assert page.get_by_role("alert").inner_text() == "Type some text to speak first."
    assert page.locator(".gen").count() == 0


def test_composer_shows_the_servers_error_message(transactional_db, browser_page, web_url, user, builtin_voices):
    """A refusal the server makes reaches the page from the error envelope's `message`."""
    page = browser_page
    page.goto(f"{web_url}/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_label("Password").fill("correct horse battery staple")
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/studio/sessions/*/")
    page.locator("#composer-voice").select_option(str(builtin_voices["EN-MALE-1-NEUTRAL"].id))
    page.get_by_label("Text to speak").fill("こんにちは。")
    page.get_by_label("Text to speak").press("Enter")
    page.wait_for_function("document.querySelector('[role=alert]')?.textContent.includes('English only')")
    assert page.locator(".gen").count() == 0


DOCS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
LONG = " ".join(["This sentence is one of many, so the generation runs long enough to watch."] * 6)


def sign_in(page, web_url: str, email: str, password: str) -> None:
    page.goto(f"{web_url}/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/studio/sessions/*/")
    page.wait_for_selector("#connection[data-state=open]")


def test_cancel_downloads_again_delete_and_the_limit(transactional_db, browser_page, web_url, user, tmp_path):
    page = browser_page
    sign_in(page, web_url, user.email, "correct horse battery staple")
    composer = page.get_by_label("Text to speak")

    composer.fill("x" * 5001)
    assert len(composer.input_value()) == 5000, "the textarea stops at the limit"
    assert "counter-full" in page.locator("#composer-count").get_attribute("class")
    assert page.locator("#composer-estimate").inner_text().startswith("≈")

    composer.fill(LONG)
    composer.press("Enter")
    item = page.locator(".gen").first
    item.get_by_role("button", name="Cancel").click()
    page.wait_for_selector(".gen[data-status=cancelled]", timeout=60_000)

    page.get_by_label("Speed").select_option("1.25")
    composer.fill("Two downloads of one sentence, please.")
    composer.press("Enter")
    done = page.locator(".gen").nth(1)
    page.wait_for_selector(".gen:nth-child(3)[data-status=done] .play-button", timeout=120_000)
    with page.expect_download() as wav:
        done.get_by_role("link", name="Download WAV").click()
    with page.expect_download() as mp3:
        done.get_by_role("link", name="Download MP3").click()
    wav_path, mp3_path = tmp_path / "a.wav", tmp_path / "a.mp3"
    wav.value.save_as(wav_path)
    mp3.value.save_as(mp3_path)
    assert wav_info(wav_path.read_bytes())[:3] == (24_000, 1, 2)
    from pydub import AudioSegment

    assert AudioSegment.from_file(mp3_path, format="mp3").duration_seconds > 1
    # FLAC and Opus too, each encoded on its first download and kept (the MP3 is not made again).
    from studio.models import GenerationRendition
    from tests.audio_checks import assert_audio_format, audio_probe

    for name, label in (("flac", "FLAC"), ("opus", "Opus"), ("mp3", "MP3")):
        with page.expect_download() as got:
            done.get_by_role("link", name=f"Download {label}").click()
        path = tmp_path / f"b.{name}"
        got.value.save_as(path)
        assert_audio_format(audio_probe(path.read_bytes(), name), name)
    assert sorted(GenerationRendition.objects.values_list("format", flat=True)) == ["flac", "mp3", "opus"]
    # Its captions beside the audio, from when each word is said: they parse and say the sentence.
    import srt
    import webvtt

    with page.expect_download() as got:
        done.get_by_role("link", name="Download SRT").click()
    got.value.save_as(tmp_path / "b.srt")
    cues = list(srt.parse((tmp_path / "b.srt").read_text()))
    assert " ".join(cue.content.replace("\n", " ") for cue in cues) == "Two downloads of one sentence, please."
    assert cues[-1].end.total_seconds() <= wav_info(wav_path.read_bytes())[3] + 1e-3
    with page.expect_download() as got:
        done.get_by_role("link", name="Download VTT").click()
    got.value.save_as(tmp_path / "b.vtt")
    assert [c.text for c in webvtt.read(str(tmp_path / "b.vtt"))] == [cue.content for cue in cues]

    done.get_by_role("button", name="Generate again").click()
    page.wait_for_function("document.querySelectorAll('.gen').length === 3")
    page.once("dialog", lambda dialog: dialog.accept())
    done.get_by_role("button", name="Delete").click()
    page.wait_for_function("document.querySelectorAll('.gen').length === 2")
    assert page.console_errors == []


def test_the_page_catches_up_after_the_websocket_is_cut(transactional_db, browser_page, web_url, user, builtin_voices):
    """The socket is cut and refused while a generation runs and ends; when the server takes it
    again, the page reconnects by itself and shows what it missed."""
    from studio.models import Session
    from studio.services import generation_create
    from tests.waiting import generation_wait_finished

    page = browser_page
    sockets, refusing = [], []

    def through_the_server(ws):
        if refusing:
            ws.close()
            return
        ws.connect_to_server()
        sockets.append(ws)

    page.route_web_socket(re.compile(r"/ws/studio/"), through_the_server)
    sign_in(page, web_url, user.email, "correct horse battery staple")
    refusing.append(True)
    sockets[-1].close()
    page.wait_for_selector("#connection[data-state=connecting]", timeout=30_000)

    session = Session.objects.get(id=page.url.rstrip("/").split("/")[-1])
    # From a thread of its own: Playwright runs an event loop in this one, and the service's
    # broadcast may not run inside it.
    with ThreadPoolExecutor(1) as thread:
        generation = thread.submit(
            generation_create,
            user=user,
            session=session,
            text="Made while the socket was cut.",
            voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id,
        ).result()
    generation_wait_finished(generation.id)
    assert page.locator(".gen").count() == 0, "nothing arrived while the socket was cut"
    refusing.clear()
    page.wait_for_selector("#connection[data-state=open]", timeout=30_000)
    page.wait_for_selector(".gen[data-status=done] .play-button", timeout=30_000)
    assert page.locator(".gen-text").inner_text() == "Made while the socket was cut."


def test_a_team_member_watches_the_owners_generation_live(transactional_db, web_url, user, builtin_voices):
    """Two browsers: the owner generates; a member, as viewer, sees it arrive and progress."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    from accounts.models import User
    from accounts.services import team_create
    from billing.services import credits_signup_grant
    from studio.services import session_create, session_share
    from tests.conftest import team_join

    member = User.objects.create_user(email="member@example.com", password="member pass phrase 42")
    credits_signup_grant(member)
    team = team_create(owner=user, name="Crew")
    team_join(team, owner=user, member=member)
    session = session_create(owner=user, title="Radio script")
    session_share(session=session, by=user, team_id=team.id, role="viewer")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        owner = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        viewer = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
        sign_in(owner, web_url, user.email, "correct horse battery staple")
        owner.goto(f"{web_url}/studio/sessions/{session.id}/")
        sign_in(viewer, web_url, member.email, "member pass phrase 42")
        viewer.goto(f"{web_url}/studio/sessions/{session.id}/")
        viewer.wait_for_selector("#connection[data-state=open]")
        owner.wait_for_selector("#connection[data-state=open]")
        assert viewer.locator("#composer-text").count() == 0, "a viewer cannot generate"
        assert "viewers" in viewer.locator(".composer-readonly").inner_text()

        owner.get_by_label("Text to speak").fill(LONG)
        owner.get_by_label("Text to speak").press("Enter")
        viewer.wait_for_selector(".gen", timeout=30_000)
        viewer.wait_for_function(
            "document.querySelector('.gen .gen-status')?.textContent.startsWith('Generating part')", timeout=120_000
        )
        viewer.wait_for_selector(".gen[data-status=done] .play-button", timeout=180_000)
        owner.wait_for_selector(".gen[data-status=done] .play-button", timeout=30_000)

        DOCS.mkdir(parents=True, exist_ok=True)
        owner.screenshot(path=DOCS / "studio-desktop.png")
        viewer.screenshot(path=DOCS / "studio-phone.png")
        browser.close()


def test_sessions_are_created_renamed_and_deleted_in_the_page(transactional_db, browser_page, web_url, user):
    page = browser_page
    sign_in(page, web_url, user.email, "correct horse battery staple")
    first_url = page.url
    page.get_by_role("button", name="+ New session").click()
    page.wait_for_url(lambda url: url != first_url and "/studio/sessions/" in url)
    assert page.locator(".session-list li").count() == 2

    page.get_by_text("Session ▾").click()
    page.get_by_label("Name", exact=True).fill("Chapter one")
    page.get_by_role("button", name="Rename").click()
    page.wait_for_selector("#session-title:text('Chapter one')")
    assert page.locator(".session-list [aria-current=page]").inner_text() == "Chapter one"

    page.get_by_text("Session ▾").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete session").click()
    page.wait_for_selector("#connection[data-state=open]")
    assert page.locator(".session-list li").count() == 1
    assert "Chapter one" not in page.locator(".session-list").inner_text()
    assert page.console_errors == []


def test_a_japanese_voice_from_its_group_reads_japanese(transactional_db, browser_page, web_url, user, tmp_path):
    page = browser_page
    sign_in(page, web_url, user.email, "correct horse battery staple")
    voice = page.get_by_label("Voice", exact=True)
    groups = voice.locator("optgroup")
    assert [groups.nth(i).get_attribute("label") for i in range(groups.count())] == ["English", "Japanese"]
    assert "JA-FEMALE-1-NEUTRAL" in voice.locator("optgroup[label=Japanese]").inner_text()
    composer = page.get_by_label("Text to speak")
    text = "こんにちは。今日はいい天気ですね。"

    def estimate(typed: str) -> float:
        composer.fill(typed)
        return float(re.search(r"[\d.]+", page.locator("#composer-estimate").inner_text()).group())

    # Kana and kanji are estimated at their slower pace: more than twice English's, length for length.
    assert estimate(text) > 2 * estimate("Hello there, Bob.") and len(text) == len("Hello there, Bob.")
    composer.fill(text)
    voice.select_option(label="JA-FEMALE-1-NEUTRAL · Female")
    composer.press("Enter")
    item = page.locator(".gen").first
    page.wait_for_selector(".gen[data-status=done] .play-button", timeout=120_000)
    meta = item.locator(".gen-meta").inner_text()
    assert "JA-FEMALE-1-NEUTRAL" in meta and "Japanese" in meta
    with page.expect_download() as download_info:
        item.get_by_role("link", name="Download WAV").click()
    path = tmp_path / "japanese.wav"
    download_info.value.save_as(path)
    wav = path.read_bytes()
    rate, _, _, seconds = wav_info(wav)
    assert rate == 24_000 and rms_dbfs(wav) > -35
    assert 0.07 <= seconds / japanese_morae(text) <= 0.25


def test_a_clone_being_improved_shows_its_progress_live_in_the_selector_and_the_clone_page(
    transactional_db, browser_page, web_url, user
):
    from django.utils import timezone

    from voices.models import Voice
    from voices.services import _fit_end, _fit_event_on_commit

    page = browser_page
    clone = Voice.objects.create(
        speaker_name="Stella",
        kind="clone",
        owner=user,
        gender="female",
        profile={"kind": "kokoro"},
        fit_status="fitting",
    )
    Voice.objects.filter(id=clone.id).update(fit_heartbeat_at=timezone.now())
    sign_in(page, web_url, user.email, "correct horse battery staple")
    option = page.locator(f'#composer-voice option[value="{clone.id}"]')
    assert option.inner_text() == "Stella · Female · clone · improving your voice… 0%"

    def elsewhere(work) -> None:
        # Not on Playwright's event loop: sending to the channel layer runs one of its own.
        with ThreadPoolExecutor(1) as thread:
            thread.submit(work).result()

    def progress(fraction: float) -> None:
        # What the fitter sends as it goes: the row's progress, then its event, to the owner's group.
        Voice.objects.filter(id=clone.id).update(fit_progress=fraction)
        elsewhere(lambda: _fit_event_on_commit(Voice.objects.get(id=clone.id)))

    progress(0.57)
    page.wait_for_function(
        f"document.querySelector('option[value=\"{clone.id}\"]').textContent.endsWith('improving your voice… 57%')"
    )
    page.goto(f"{web_url}/studio/voices/")
    page.wait_for_selector("body[data-fit-live=open]")
    state = page.locator(f'[data-fit-voice="{clone.id}"]')
    assert state.inner_text() == "Improving your voice… 57%"
    progress(0.81)
    page.wait_for_function(
        f"document.querySelector('[data-fit-voice=\"{clone.id}\"]').textContent === 'Improving your voice… 81%'"
    )
    elsewhere(lambda: _fit_end(Voice.objects.get(id=clone.id), status="kept", scores={"start": {}, "fitted": {}}))
    page.wait_for_function(
        f"document.querySelector('[data-fit-voice=\"{clone.id}\"]').textContent === 'Kept as it was'"
    )


def test_a_take_that_failed_its_check_is_marked_live(transactional_db, browser_page, web_url, user):
    """The composer checks the words by default; a take whose words still did not match after its
    retake wears "some words may be wrong", live; one made with the box unticked is not checked."""
    page = browser_page
    sign_in(page, web_url, user.email, "correct horse battery staple")
    check_box = page.get_by_label("Check the words")
    assert check_box.is_checked()
    # A tongue twister EN-FEMALE-1-NEUTRAL says as other words at both of its speeds
    # (tests/engine/test_verify.py).
    page.get_by_label("Voice", exact=True).select_option(label="EN-FEMALE-1-NEUTRAL · Female")
    composer = page.get_by_label("Text to speak")
    composer.fill("Irish wristwatch, Swiss wristwatch.")
    composer.press("Enter")
    badge = page.locator(".gen").first.locator(".gen-unverified")
    badge.wait_for(state="visible", timeout=120_000)
    assert badge.inner_text() == "some words may be wrong"
    assert "part 1" in badge.get_attribute("title")

    check_box.uncheck()
    composer.fill("Irish wristwatch, Swiss wristwatch.")
    composer.press("Enter")
    page.wait_for_selector(".gen:nth-child(2)[data-status=done] .play-button", timeout=120_000)
    assert page.locator(".gen").nth(1).locator(".gen-unverified").is_hidden()
    assert page.console_errors == []
