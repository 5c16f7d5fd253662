"""Captions from a take's words (studio.captions, GET /api/v1/generations/<id>/captions): they parse
with the formats' own readers, cover every word in order with the input's punctuation, cut at
sentences and pauses, and are the owner's only. The words here are written into the row; a real
take's words and captions are checked in tests/test_generation_words.py."""

import io
import itertools
import uuid

import pytest
import srt
import webvtt
from django.test import Client

from accounts.services import team_create, token_create
from studio.captions import CAPTION_LINE_CHARS, CAPTION_SECONDS_MAX, captions_render
from studio.models import Generation, SessionShare
from studio.selectors import generation_state, generation_word_marks
from studio.services import session_create
from tests.conftest import team_join
from tests.test_account_isolation import _generation

pytestmark = pytest.mark.django_db

TEXT = "Hello there, my friend. We meet again at noon, by the old stone bridge over the quiet river."


def _words(text: str, *, pause_after: int | None = None) -> list[dict]:
    """Each word 0.3 s long, 0.05 s apart (a longer pause after word `pause_after`)."""
    words, at, offset = [], 0.1, 0
    for number, token in enumerate(text.split()):
        start = text.index(token, offset)
        word = token.strip(",.")
        words.append(
            {
                "text": word,
                "start": round(at, 3),
                "end": round(at + 0.3, 3),
                "char_start": start,
                "char_end": start + len(word),
                "chunk": 1,
            }
        )
        offset = start + len(token)
        at += 0.35 + (1.0 if number == pause_after else 0)
    return words


def _srt_cues(body: str) -> list[srt.Subtitle]:
    return list(srt.parse(body))


def test_srt_and_vtt_parse_and_say_every_word_in_order_with_its_punctuation():
    words = _words(TEXT)
    cues = _srt_cues(captions_render(text=TEXT, words=words, format_name="srt"))
    vtt = webvtt.from_buffer(io.StringIO(captions_render(text=TEXT, words=words, format_name="vtt")))
    assert [c.content.replace("\n", " ") for c in cues] == [c.text.replace("\n", " ") for c in vtt]
    assert " ".join(c.content.replace("\n", " ") for c in cues) == TEXT
    # The first sentence is a cue of its own; no cue is longer than two lines or CAPTION_SECONDS_MAX.
    assert cues[0].content == "Hello there, my friend."
    for cue in cues:
        lines = cue.content.split("\n")
        assert len(lines) <= 2 and all(len(line) <= CAPTION_LINE_CHARS for line in lines)
        assert (cue.end - cue.start).total_seconds() <= CAPTION_SECONDS_MAX
    # They cover the words' times: from the first word's start to the last word's end, in order.
    assert cues[0].start.total_seconds() == pytest.approx(words[0]["start"])
    assert cues[-1].end.total_seconds() == pytest.approx(words[-1]["end"])
    assert all(a.end <= b.start for a, b in itertools.pairwise(cues))
    assert vtt[0].start == "00:00:00.100"


def test_a_pause_ends_a_cue():
    text = "one two three four five"
    cues = _srt_cues(captions_render(text=text, words=_words(text, pause_after=1), format_name="srt"))
    assert [c.content for c in cues] == ["one two", "three four five"]


def test_a_written_form_said_in_several_words_is_one_caption_word_and_one_player_word():
    """Normalisation says "12/01/2026" as four words that all point at its characters: the caption
    shows it once, not once a word, and the player follows it from the first word to the last."""
    text = "We meet at the old bridge on 12/01/2026. Be there."
    date = text.index("12/01/2026"), text.index("12/01/2026") + len("12/01/2026")
    said = [
        "We",
        "meet",
        "at",
        "the",
        "old",
        "bridge",
        "on",
        "December",
        "first",
        "twenty",
        "twenty-six",
        "Be",
        "there",
    ]
    spans = [
        (0, 2),
        (3, 7),
        (8, 10),
        (11, 14),
        (15, 18),
        (19, 25),
        (26, 28),
        date,
        date,
        date,
        date,
        (41, 43),
        (44, 49),
    ]
    words = [
        {"text": w, "start": 0.1 + 0.4 * i, "end": 0.4 + 0.4 * i, "char_start": a, "char_end": b, "chunk": 1}
        for i, (w, (a, b)) in enumerate(zip(said, spans, strict=True))
    ]
    cues = _srt_cues(captions_render(text=text, words=words, format_name="srt"))
    assert [c.content for c in cues] == ["We meet at the old bridge on 12/01/2026.", "Be there."]
    assert cues[0].end.total_seconds() == pytest.approx(words[10]["end"])
    marks = generation_word_marks(words=words)
    assert [text[a:b] for a, b, _, _ in marks] == [*text.replace(".", "").split()]
    assert marks[7][2:] == [pytest.approx(words[7]["start"]), pytest.approx(words[10]["end"])]


@pytest.fixture
def take(user, builtin_voices):
    generation = _generation(None, user, builtin_voices["EN-MALE-1-NEUTRAL"], TEXT)
    Generation.objects.filter(id=generation.id).update(words=_words(TEXT))
    return generation


def _api(secret: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {secret}")


def test_the_owner_gets_the_captions_and_anyone_else_404(take, user, other_user):
    mine = _api(token_create(user=user, name="mine")[1])
    url = f"/api/v1/generations/{take.id}/captions"
    as_srt = mine.get(url)
    assert as_srt.status_code == 200 and as_srt["Content-Type"].startswith("application/x-subrip")
    assert _srt_cues(as_srt.content.decode())[0].content == "Hello there, my friend."
    as_vtt = mine.get(url, {"format": "vtt", "download": "1"})
    assert as_vtt.status_code == 200 and as_vtt["Content-Type"].startswith("text/vtt")
    assert as_vtt.content.startswith(b"WEBVTT") and as_vtt["Content-Disposition"].endswith('.vtt"')

    bad = mine.get(url, {"format": "ass"})
    assert bad.status_code == 400 and bad.json()["code"] == "VALIDATION_ERROR"
    stranger = _api(token_create(user=other_user, name="stranger")[1])
    for path in (url, f"/api/v1/generations/{uuid.uuid4()}/captions"):
        refused = stranger.get(path)
        assert refused.status_code == 404 and refused.json()["code"] == "NOT_FOUND"
        assert b"friend" not in refused.content


def test_a_take_without_word_timings_says_so(take, user):
    Generation.objects.filter(id=take.id).update(words=[])
    refused = _api(token_create(user=user, name="mine")[1]).get(f"/api/v1/generations/{take.id}/captions")
    assert refused.status_code == 404 and "no word timings" in refused.json()["message"]


def test_the_studio_offers_srt_and_vtt_to_whoever_may_hear_the_take_while_they_may(user, other_user, builtin_voices):
    team = team_create(owner=user, name="Listeners")
    team_join(team, owner=user, member=other_user)
    session = session_create(owner=user, title="shared")
    share = SessionShare.objects.create(session=session, team=team, role=SessionShare.Role.VIEWER)
    generation = _generation(session, user, builtin_voices["EN-MALE-1-NEUTRAL"], TEXT)
    Generation.objects.filter(id=generation.id).update(words=_words(TEXT))
    generation.refresh_from_db()
    downloads = generation_state(generation)["downloads"]
    assert list(downloads) == ["wav", "mp3", "flac", "opus", "srt", "vtt"]

    member = Client()
    member.force_login(other_user)
    as_vtt = member.get(downloads["vtt"])
    assert as_vtt.status_code == 200 and as_vtt["Content-Type"].startswith("text/vtt")
    assert webvtt.from_buffer(io.StringIO(as_vtt.content.decode())).captions[0].text == "Hello there, my friend."
    assert as_vtt["Content-Disposition"].startswith("attachment;")
    assert member.get(downloads["srt"].replace("srt", "ass")).status_code == 404
    share.delete()  # the team no longer shares the session: its captions go with its audio
    assert member.get(downloads["srt"]).status_code == 404

    Generation.objects.filter(id=generation.id).update(words=[])
    generation.refresh_from_db()
    assert "srt" not in generation_state(generation)["downloads"]
