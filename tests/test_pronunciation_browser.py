"""Issue 17: the pronunciation page, used as a person would: add a rule for a made-up name, press
"Hear it", and hear the name said the rule's way, made as a Studio take (Chromium with Playwright,
against the stack, as tests/test_first_use_in_browser.py)."""

import pytest

from studio.models import Generation
from tests.audio_checks import assert_audio_format, audio_probe, transcribe
from tests.test_first_use_in_browser import browser_page, sign_in  # noqa: F401 (a fixture)


@pytest.mark.stack
@pytest.mark.browser
def test_a_rule_added_on_the_page_is_heard_with_hear_it(transactional_db, browser_page, web_url, user):  # noqa: F811
    page = browser_page
    sign_in(page, web_url, user.email, "correct horse battery staple")
    page.get_by_role("link", name="Pronunciations").first.click()
    page.get_by_label("Word or phrase, as written").fill("Zorblax")
    page.get_by_label("Alias or IPA").fill("door bell")
    page.get_by_role("button", name="Add rule").click()
    page.get_by_label("Hear them in").select_option(label="EN-MALE-1-NEUTRAL")
    hear = page.get_by_role("button", name="Hear Zorblax")
    hear.click()

    page.wait_for_selector("#hear-player:not([hidden])", timeout=90_000)
    assert "Zorblax" in page.locator("#hear-status").inner_text()
    source = page.locator("#hear-player").get_attribute("src")
    assert source, "the player has the take's audio"
    audio = page.request.get(web_url + source if source.startswith("/") else source)
    assert audio.status == 200
    wav = audio.body()
    assert_audio_format(audio_probe(wav, "wav"), "wav")
    # The name itself is heard as no bell at all (tests/test_pronunciation_stack.py).
    heard = transcribe(wav)
    assert "bell" in heard, heard
    take = Generation.objects.get(user=user)
    assert take.text == "Here is Zorblax." and take.status == Generation.Status.DONE
    assert not page.console_errors, page.console_errors
