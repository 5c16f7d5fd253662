"""The Studio's downloads (WAV, MP3, FLAC, Opus: each encoded once, on its first download, kept,
served only to who may see the take, removed with it) and its speed control (sent with the
composer, checked, and the hold priced at the slower pace)."""

from pathlib import Path
from unittest import mock

import pytest
from django.test import Client

from billing.models import Hold
from billing.pricing import speech_hold, speech_seconds_max
from core import audio_formats
from studio.models import Generation, GenerationRendition
from studio.services import GenerationRefused, generation_create, generation_delete, session_create
from tests.audio_checks import assert_audio_format, audio_probe
from tests.test_sessions_and_teams import _done

CONTENT_TYPES = {"wav": "audio/wav", "mp3": "audio/mpeg", "flac": "audio/flac", "opus": "audio/ogg"}


def _page(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_each_download_format_is_encoded_once_and_kept(transactional_db, user, builtin_voices):
    generation = _done(session_create(owner=user), user, builtin_voices)
    page = _page(user)
    state = page.get(f"/studio/sessions/{generation.session_id}/generations").json()["generations"][0]
    assert set(state["downloads"]) == set(CONTENT_TYPES)

    with mock.patch.object(audio_formats, "StreamEncoder", wraps=audio_formats.StreamEncoder) as encoders:
        for name, url in state["downloads"].items():
            first, again = page.get(url), page.get(url)
            assert first.status_code == again.status_code == 200, name
            assert first["Content-Type"] == CONTENT_TYPES[name]
            assert f".{audio_formats.AUDIO_FORMATS[name].extension}" in first["Content-Disposition"]
            data = _body(first)
            assert _body(again) == data
            assert_audio_format(audio_probe(data, name), name)
        # MP3, FLAC and Opus encoded once each; the WAV is the take itself.
        assert encoders.call_count == 3
    assert sorted(GenerationRendition.objects.values_list("format", flat=True)) == ["flac", "mp3", "opus"]
    # A player seeks in a rendition as in the WAV.
    partial = page.get(state["downloads"]["mp3"], HTTP_RANGE="bytes=0-99")
    assert partial.status_code == 206 and len(_body(partial)) == 100
    assert page.get(f"/studio/generations/{generation.id}/audio?format=ogg").status_code == 404


def test_renditions_are_served_to_who_may_see_the_take_and_go_with_it(
    transactional_db, user, other_user, builtin_voices
):
    generation = _done(session_create(owner=user), user, builtin_voices)
    url = f"/studio/generations/{generation.id}/audio?format=flac"
    assert _page(user).get(url).status_code == 200
    stranger = Client(raise_request_exception=False)
    stranger.force_login(other_user)
    assert stranger.get(url).status_code == 404
    assert Client().get(url).status_code == 302  # to the sign-in
    rendition = GenerationRendition.objects.get(generation=generation)
    files = [Path(generation.audio.path), Path(rendition.file.path)]
    assert all(path.exists() for path in files)

    generation_delete(generation=generation)

    assert not Generation.objects.filter(id=generation.id).exists()
    assert not GenerationRendition.objects.exists()
    assert [path for path in files if path.exists()] == []


def test_the_composer_sends_speed_and_the_hold_is_priced_at_the_slower_pace(transactional_db, user, builtin_voices):
    session = session_create(owner=user)
    page = _page(user)
    assert 'id="composer-speed"' in page.get(f"/studio/sessions/{session.id}/").content.decode()
    url = f"/studio/sessions/{session.id}/generations"
    voice_id = str(builtin_voices["EN-MALE-1-NEUTRAL"].id)
    text = "A slow and careful reading."
    made = page.post(url, {"text": text, "voice_id": voice_id, "speed": 0.5}, content_type="application/json")
    assert made.status_code == 201
    generation = Generation.objects.get()
    assert generation.speed == 0.5
    assert generation.max_seconds == pytest.approx(speech_seconds_max(text) * 2)
    assert Hold.objects.get(generation=generation).amount == speech_hold(speech_seconds_max(text) * 2)
    for bad in (0.2, 4.5, "fast", True):
        refused = page.post(url, {"text": text, "voice_id": voice_id, "speed": bad}, content_type="application/json")
        assert refused.status_code == 400 and "speed" in refused.json()["message"], bad
    # Every caller comes through the one service: the same check.
    with pytest.raises(GenerationRefused, match=r"speed must be a number from 0\.25 to 4\.0"):
        generation_create(user=user, text=text, voice_id=voice_id, speed=0)
    assert Generation.objects.count() == 1
