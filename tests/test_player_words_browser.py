"""Issue 17: the Studio player follows the words. The take's text shows as its words; while it
plays, the word being said is highlighted (and kept in view in its box); a click on a word, or
Enter on it, plays from its start.

The browser tests drive Debian's Chromium (Playwright, as tests/test_first_use_in_browser.py)
against the stack; the page's times are read from the player's own audio element.
"""

import itertools
import json
import re

import pytest
from django.core.files.base import ContentFile
from django.test import Client

from accounts.services import team_create
from studio.models import Generation, SessionShare
from studio.services import session_create
from tests.conftest import team_join
from tests.test_account_isolation import _generation, _tone_wav, _words_spread
from tests.test_first_use_in_browser import browser_page, sign_in  # noqa: F401 (a fixture)

PASSWORD = "correct horse battery staple"
# Two sentences: two chunks, each timed by the engine, the second's words after the first's audio.
TEXT = "The quick brown fox jumps over the lazy dog. Then it runs home across the green field."
MARKUP = "Type <b>x</b> & <i>y</i> here."

# In the page: each of the take's word spans, its text and times, and which is highlighted.
READ_WORDS = """(item) => [...item.querySelectorAll('.gen-text .word')].map((s) => ({
    text: s.textContent, start: Number(s.dataset.start), end: Number(s.dataset.end),
    current: s.getAttribute('aria-current') === 'true'}))"""
# Samples (the audio's time, the highlighted word's index) at each of the audio's timeupdate
# events until it ends; the page's own listener (wavesurfer's) runs first, at the same time.
COLLECT_SAMPLES = """(item) => {
    const audio = item.querySelector('audio');
    const spans = [...item.querySelectorAll('.gen-text .word')];
    window.samples = [];
    window.ended = false;
    const sample = () => window.samples.push({
        t: audio.currentTime, current: spans.findIndex((s) => s.getAttribute('aria-current'))});
    audio.addEventListener('timeupdate', sample);
    audio.addEventListener('ended', () => { audio.removeEventListener('timeupdate', sample); window.ended = true; },
        {once: true});
}"""
# Where the audio landed when a seek ended, and which word was highlighted then.
AWAIT_SEEK = """(item) => {
    const audio = item.querySelector('audio');
    const spans = [...item.querySelectorAll('.gen-text .word')];
    window.seeked = null;
    audio.addEventListener('seeked', () => { window.seeked = {
        t: audio.currentTime, current: spans.findIndex((s) => s.getAttribute('aria-current'))}; }, {once: true});
}"""


def _holding(words: list[dict], seconds: float) -> int:
    """The index of the word whose [start, end) holds the time; -1 between words."""
    return next((i for i, w in enumerate(words) if w["start"] <= seconds < w["end"]), -1)


def _feed(client: Client, session) -> list[dict]:
    page = client.get(f"/studio/sessions/{session.id}/")
    assert page.status_code == 200
    found = re.search(rb'<script id="feed-data" type="application/json">(.*?)</script>', page.content, re.S)
    assert found is not None
    return json.loads(found.group(1))


@pytest.mark.django_db
def test_the_page_brings_each_takes_words_to_whoever_sees_the_session(user, other_user, builtin_voices):
    team = team_create(owner=user, name="Listeners")
    team_join(team, owner=user, member=other_user)
    session = session_create(owner=user, title="shared")
    share = SessionShare.objects.create(session=session, team=team, role=SessionShare.Role.VIEWER)
    take = _generation(session, user, builtin_voices["EN-MALE-1-NEUTRAL"], MARKUP)
    words = take.words
    japanese = _generation(session, user, builtin_voices["EN-MALE-1-NEUTRAL"], "こんにちは。")
    Generation.objects.filter(id=japanese.id).update(words=[])

    owner, member = Client(), Client()
    owner.force_login(user)
    member.force_login(other_user)
    for client in (owner, member):
        marks = {state["id"]: state["words"] for state in _feed(client, session)}
        # [char_start, char_end, start, end]: the page cuts each word from the take's text.
        assert marks[str(take.id)] == [[w["char_start"], w["char_end"], w["start"], w["end"]] for w in words]
        assert [MARKUP[a:b] for a, b, _, _ in marks[str(take.id)]] == MARKUP.split()
        assert marks[str(japanese.id)] == []
    # The user's markup reaches the page as JSON text, never as markup.
    assert b"<b>x</b>" not in owner.get(f"/studio/sessions/{session.id}/").content
    share.delete()
    assert member.get(f"/studio/sessions/{session.id}/").status_code == 404


@pytest.mark.stack
@pytest.mark.browser
def test_the_highlighted_word_follows_playback_and_a_click_on_a_word_plays_from_it(
    transactional_db,
    browser_page,  # noqa: F811 (the fixture imported above)
    web_url,
    user,
):
    page = browser_page
    sign_in(page, web_url, user.email, PASSWORD)
    page.get_by_label("Voice", exact=True).select_option(label="EN-FEMALE-1-NEUTRAL · Female")
    composer = page.get_by_label("Text to speak")
    composer.fill(TEXT)
    composer.press("Enter")
    item = page.locator(".gen").first
    page.wait_for_selector(".gen[data-status=done] .play-button", timeout=120_000)
    # The words came with the take's end, over the websocket: no reload.
    page.wait_for_selector(".gen .gen-text .word")
    handle = item.element_handle()
    words = page.evaluate(READ_WORDS, handle)
    stored = Generation.objects.get().words
    assert [w["text"] for w in words] == [TEXT[w["char_start"] : w["char_end"]] for w in stored]
    assert len(words) == len(TEXT.split())
    assert item.locator(".gen-text").inner_text() == TEXT, "the spans and the text between them are the text"
    assert all(a["end"] <= b["start"] + 1e-6 for a, b in itertools.pairwise(words))
    first_sentence = TEXT.split(". ")[0].count(" ") + 1

    page.wait_for_function("document.querySelector('.gen .wave')?.firstElementChild?.shadowRoot !== null")
    page.evaluate(COLLECT_SAMPLES, handle)
    item.get_by_role("button", name="Play").click()
    page.wait_for_function("window.ended", timeout=60_000)
    samples = page.evaluate("window.samples")
    assert len(samples) >= 8, samples
    for sample in samples:
        expected = _holding(words, sample["t"])
        if sample["current"] != expected:
            # Only at a word's edge may the page be a frame behind the audio.
            near = [w for w in words if min(abs(sample["t"] - w["start"]), abs(sample["t"] - w["end"])) < 0.03]
            assert near, f"at {sample['t']:.3f} s the page highlights word {sample['current']}, not {expected}"
    spoken = [s["current"] for s in samples if s["current"] >= 0]
    assert spoken == sorted(spoken), "the highlight moves forward, in order"
    assert len(set(spoken)) >= 5 and max(spoken) >= first_sentence, "it follows both sentences' words"
    # The highlight is visible: the spoken word looks unlike the others.
    fifth = item.locator(".gen-text .word").nth(4)
    plain = fifth.evaluate("(s) => getComputedStyle(s).backgroundColor")

    page.evaluate(AWAIT_SEEK, handle)
    fifth.click()
    page.wait_for_function("window.seeked !== null")
    seeked = page.evaluate("window.seeked")
    assert seeked["t"] == pytest.approx(words[4]["start"], abs=0.05)
    assert seeked["current"] == 4
    # (waited for: the highlight may fade in, and the page may be a frame behind the seek)
    page.wait_for_function(
        "([s, plain]) => getComputedStyle(s).backgroundColor !== plain",
        arg=[fifth.element_handle(), plain],
        timeout=5_000,
    )
    page.wait_for_function("document.querySelector('.gen .play-button').textContent === 'Pause'")
    item.get_by_role("button", name="Pause").click()

    # Keyboard: the word in the tab order is the current one; arrows move, Enter plays from a word.
    fifth.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.textContent") == words[6]["text"]
    page.evaluate(AWAIT_SEEK, handle)
    page.keyboard.press("Enter")
    page.wait_for_function("window.seeked !== null")
    seeked = page.evaluate("window.seeked")
    assert seeked["t"] == pytest.approx(words[6]["start"], abs=0.05) and seeked["current"] == 6
    assert page.console_errors == []


@pytest.mark.stack
@pytest.mark.browser
def test_a_long_take_scrolls_in_its_box_and_markup_stays_text(
    transactional_db,
    browser_page,  # noqa: F811 (the fixture imported above)
    web_url,
    user,
    builtin_voices,
):
    """Takes written into the rows (their audio a tone): the page shows the user's markup as text,
    and a long take's box scrolls with the words while the feed and the page stay where they are."""
    session = session_create(owner=user, title="long")
    voice = builtin_voices["EN-MALE-1-NEUTRAL"]
    markup = _generation(session, user, voice, MARKUP)
    long_text = " ".join(f"Sentence {n} says a few more words, so the box has to scroll." for n in range(1, 31))
    long = _generation(session, user, voice, long_text)
    # 20 s: the box has scrolled by 15 s, and 5 s are left to see a word highlighted in view.
    long.seconds = 20.0
    long.words = _words_spread(long_text, seconds=20.0)
    long.audio.save(f"{user.id}/{long.id}.wav", ContentFile(_tone_wav(20.0)), save=False)
    long.save(update_fields=["seconds", "words", "audio"])

    page = browser_page
    sign_in(page, web_url, user.email, PASSWORD)
    page.goto(f"{web_url}/studio/sessions/{session.id}/")
    page.wait_for_selector("#connection[data-state=open]")
    shown = page.locator(f"#gen-{markup.id} .gen-text")
    assert shown.inner_text() == MARKUP
    assert shown.locator("b, i").count() == 0, "the user's markup is text, not elements"
    assert [w["text"] for w in page.evaluate(READ_WORDS, shown.element_handle())] == MARKUP.split()

    item = page.locator(f"#gen-{long.id}")
    box = item.locator(".gen-text")
    assert box.evaluate("(b) => b.scrollHeight > b.clientHeight + 20"), "the long text overflows its box"
    assert box.evaluate("(b) => b.scrollTop") == 0
    page.wait_for_function(f"document.querySelector('#gen-{long.id} .wave')?.firstElementChild?.shadowRoot !== null")
    where = "() => [window.scrollY, document.getElementById('feed').scrollTop]"
    before = page.evaluate(where)
    item.get_by_role("button", name="Play").click()
    page.wait_for_function(f"document.querySelector('#gen-{long.id} audio').currentTime > 15", timeout=30_000)
    in_view = """(b) => { const w = b.querySelector('.word[aria-current]'); if (!w) return null;
        const r = w.getBoundingClientRect(), v = b.getBoundingClientRect();
        return r.top >= v.top - 1 && r.bottom <= v.bottom + 1; }"""
    # Polled, not read once: between two words none is highlighted (a gap), so one read can miss.
    page.wait_for_function(f"({in_view})(document.querySelector('#gen-{long.id} .gen-text')) === true")
    assert box.evaluate("(b) => b.scrollTop") > 0, "the box scrolled with the words"
    assert page.evaluate(where) == before, "the page and the feed stayed put"
    assert page.console_errors == []
