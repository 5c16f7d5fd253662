"""The language of a request, as a caller meets it: the voices API and the Studio name each voice's
language; a request names its text's language or has it detected; a language the voice's engine does
not speak (Joe reads English only) or no engine speaks ("fr") is refused in the API's envelope before
anything is held or charged; and Japanese goes through the whole stack to a WAV of the right length."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from accounts.services import token_create
from billing.models import Hold
from billing.selectors import wallet_for
from studio.models import Generation
from studio.services import generation_create, session_create
from tests.audio_checks import japanese_morae, rms_dbfs, wav_info
from tests.engine.test_languages import JAPANESE

SPEECH_PATHS = ["/api/v1/tts_non_stream", "/api/v1/tts_stream"]


@pytest.fixture
def api(client, user):
    client.defaults["HTTP_AUTHORIZATION"] = f"Bearer {token_create(user=user, name='tests')[1]}"
    return client


def post_json(client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


def test_the_voices_api_names_each_voices_language_and_what_it_may_read(api, builtin_voices):
    voices = {v["speaker_name"]: v for v in api.get("/api/v1/voices").json()["data"]["voices"]}
    english = {name for name, v in voices.items() if v["language"] == "en-US"}
    japanese = {name for name, v in voices.items() if v["language"] == "ja-JP"}
    assert japanese == {"JA-FEMALE-1-NEUTRAL", "JA-FEMALE-2-NEUTRAL", "JA-MALE-1-NEUTRAL"}
    assert {"EN-FEMALE-1-NEUTRAL", "EN-FEMALE-2-NEUTRAL", "EN-MALE-1-NEUTRAL", "EN-MALE-2-NEUTRAL"} <= english
    # At least two of each gender in English.
    assert sorted(voices[name]["gender"] for name in english) == ["female", "female", "male", "male"]
    assert voices["EN-MALE-1-NEUTRAL"]["languages"] == ["en"]  # Joe is Piper's: English only
    for name in japanese | {"EN-FEMALE-1-NEUTRAL", "EN-FEMALE-2-NEUTRAL", "EN-MALE-2-NEUTRAL"}:
        assert voices[name]["languages"] == ["en", "ja"], name  # Kokoro's voices read both


@pytest.mark.parametrize("path", SPEECH_PATHS)
def test_a_language_the_voice_cannot_read_is_refused_before_anything_is_charged(api, user, builtin_voices, path):
    balance = wallet_for(user).balance

    def speech(voice: str, text: str, **extra) -> dict:
        return {"text": text, "voice_id": str(builtin_voices[voice].id), "model_name": "outetts_1_pro", **extra}

    cases = [
        (speech("EN-MALE-1-NEUTRAL", JAPANESE), "EN-MALE-1-NEUTRAL reads English only"),  # detected
        (speech("EN-MALE-1-NEUTRAL", "Hello.", language="ja-JP"), "not Japanese"),
        (speech("EN-FEMALE-1-NEUTRAL", "Bonjour à tous.", language="fr"), "No voice speaks 'fr'"),
        (speech("JA-FEMALE-1-NEUTRAL", "Hello.", language="english please"), "language tag"),
        (speech("JA-FEMALE-1-NEUTRAL", "Hello.", language=5), "language"),
        (speech("JA-FEMALE-1-NEUTRAL", "Hello.", language=""), "language tag"),
    ]
    for body, words in cases:
        response = post_json(api, path, body)
        assert response.status_code == 400, (body, response.content)
        answer = response.json()
        assert (answer["success"], answer["code"]) == (False, "VALIDATION_ERROR"), answer
        assert words in answer["message"], (body, answer["message"])
    assert not Generation.objects.exists() and not Hold.objects.exists()
    assert wallet_for(user).balance == balance


def test_the_legacy_api_takes_a_language_too(client, user, builtin_voices):
    secret = token_create(user=user, name="legacy")[1]
    base = {"token": secret, "text": "Hello.", "speaker": {"default": "EN-MALE-1-NEUTRAL"}}
    for body in ({**base, "language": "ja"}, {**base, "text": JAPANESE}, {**base, "language": "fr"}):
        response = post_json(client, "/api/v1/tts", body)
        assert response.status_code == 400 and response.json()["code"] == "VALIDATION_ERROR", body
    assert not Generation.objects.exists()


def test_a_generation_records_the_language_named_or_detected(user, builtin_voices):
    session = session_create(owner=user)
    female, joe = builtin_voices["EN-FEMALE-1-NEUTRAL"].id, builtin_voices["EN-MALE-1-NEUTRAL"].id
    made = [
        generation_create(user=user, session=session, text=JAPANESE, voice_id=female),  # cross-lingual
        generation_create(user=user, session=session, text="おはよう。", voice_id=female, language="JA-jp"),
        generation_create(user=user, session=session, text="Good morning.", voice_id=joe),
        generation_create(user=user, session=session, text="Good morning.", voice_id=joe, language="en-GB"),
    ]
    assert [g.language for g in made] == ["ja", "ja", "en", "en"]
    # Enough is held for the slowest Japanese reading the engine tests allow (0.25 s a mora), as
    # the engine is told not to exceed it: Japanese says more a character than English.
    assert made[0].max_seconds >= 0.25 * japanese_morae(JAPANESE) * 1.2


def test_a_clone_reads_the_languages_of_the_engine_that_speaks_its_profile(user):
    from studio.services import GenerationRefused
    from voices.models import Voice
    from voices.selectors import voice_languages

    world = Voice.objects.create(
        speaker_name="My WORLD clone", kind=Voice.Kind.CLONE, owner=user, profile={"version": 1, "base": "female"}
    )
    assert voice_languages(world) == ("en",)  # a WORLD transform of Joe: Piper's English
    with pytest.raises(GenerationRefused) as refused:
        generation_create(user=user, text="こんにちは。", voice_id=world.id)
    assert refused.value.code == "VALIDATION_ERROR" and "English only" in refused.value.message
    kokoro = Voice.objects.create(
        speaker_name="My Kokoro clone", kind=Voice.Kind.CLONE, owner=user, profile={"kind": "kokoro"}
    )
    assert voice_languages(kokoro) == ("en", "ja")
    assert not Generation.objects.exists()


def test_the_studio_groups_its_voices_by_language(user, builtin_voices):
    client = Client()
    client.force_login(user)
    session = session_create(owner=user)
    page = client.get(reverse("studio:session_detail", args=[session.id])).content.decode()
    groups = dict(re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', page, flags=re.S))
    assert list(groups) == ["English", "Japanese"]
    assert "EN-FEMALE-2-NEUTRAL" in groups["English"] and "JA-FEMALE-1-NEUTRAL" not in groups["English"]
    assert all(
        name in groups["Japanese"] for name in ("JA-FEMALE-1-NEUTRAL", "JA-FEMALE-2-NEUTRAL", "JA-MALE-1-NEUTRAL")
    )
    # The composer names a language too, and the feed shows the one a generation was read in.
    answer = client.post(
        reverse("studio:session_generations", args=[session.id]),
        json.dumps({"text": "こんにちは。", "voice_id": str(builtin_voices["JA-MALE-1-NEUTRAL"].id)}),
        content_type="application/json",
    ).json()
    assert (answer["generation"]["language"], answer["generation"]["language_name"]) == ("ja", "Japanese")
    refused = client.post(
        reverse("studio:session_generations", args=[session.id]),
        json.dumps({"text": "こんにちは。", "voice_id": str(builtin_voices["EN-MALE-1-NEUTRAL"].id)}),
        content_type="application/json",
    )
    assert refused.status_code == 400 and "English only" in refused.json()["message"]


def test_the_sdk_checks_a_language_before_any_request():
    from outeai import OuteAI, OuteAIError
    from outeai.api import v1 as legacy

    with OuteAI("oute_" + "x" * 24, base_url="http://127.0.0.1:9", max_retries=0) as sdk:
        for language in ("", "  ", 5):
            with pytest.raises(OuteAIError, match="language"):
                sdk.generate_speech(text="Hi", voice_id="EN-MALE-1-NEUTRAL", language=language)
    with pytest.raises(ValueError, match="language"):
        legacy.TTSClient("oute_x", base_url="http://127.0.0.1:9").generate(text="Hi", language="")


@pytest.mark.stack
@pytest.mark.timeout(600)
def test_japanese_through_the_stack_and_the_sdk_is_a_wav_of_its_reading_charged_for_it(
    transactional_db, web_url, user, builtin_voices
):
    from outeai import OuteAI, OuteAIAPIError
    from outeai.api import v1 as legacy

    balance = wallet_for(user).balance
    secret = token_create(user=user, name="stack")[1]
    japanese_voice, joe = str(builtin_voices["JA-FEMALE-1-NEUTRAL"].id), str(builtin_voices["EN-MALE-1-NEUTRAL"].id)
    with OuteAI(secret, base_url=web_url, timeout=300) as sdk:
        with sdk.stream_speech(text=JAPANESE, voice_id=japanese_voice, language="ja-JP") as stream:
            wav = b"".join(stream)
        for voice, text, language in ((joe, "Hello.", "ja"), (japanese_voice, "Salut.", "fr")):
            with pytest.raises(OuteAIAPIError) as refused:
                sdk.generate_speech(text=text, voice_id=voice, language=language)
            assert (refused.value.status_code, refused.value.code) == (400, "VALIDATION_ERROR")
    with pytest.raises(legacy.LegacyAPIError) as refused:
        legacy.TTSClient(secret, base_url=web_url).generate(text=JAPANESE, speaker={"default": "EN-MALE-1-NEUTRAL"})
    assert (refused.value.status_code, refused.value.code) == (400, "VALIDATION_ERROR")

    rate, channels, width, seconds = wav_info(wav)
    assert (rate, channels, width) == (24000, 1, 2) and rms_dbfs(wav) > -35
    assert 0.07 <= seconds / japanese_morae(JAPANESE) <= 0.25, seconds  # the whole reading, not cut at the hold
    generation = Generation.objects.get()  # the refused requests stored nothing
    assert (generation.status, generation.language, generation.voice_name) == ("done", "ja", "JA-FEMALE-1-NEUTRAL")
    assert generation.seconds == pytest.approx(seconds, abs=0.01)
    assert generation.cost == pytest.approx(seconds * 1000, abs=2)  # a micro-credit a millisecond
    assert wallet_for(user).balance == balance - generation.cost


@pytest.mark.stack
@pytest.mark.timeout(300)
def test_a_japanese_voice_introduces_itself_in_japanese(db, settings, engine_url, builtin_voices):
    from engine.client import Audio, EngineClient
    from tests.audio_checks import median_f0
    from voices.services import PREVIEW_TEXTS, voice_preview_make

    settings.ENGINE_URLS = [engine_url]
    voice = builtin_voices["JA-FEMALE-2-NEUTRAL"]
    voice_preview_make(voice_id=str(voice.id))
    voice.refresh_from_db()
    wav = voice.preview.read()
    assert 0.07 <= wav_info(wav)[3] / japanese_morae(PREVIEW_TEXTS["ja"]) <= 0.25
    assert median_f0(wav) >= 165 and rms_dbfs(wav) > -35
    # Kokoro has no sampling noise: the preview is that Japanese sentence, read as Japanese.
    with EngineClient(engine_url, timeout=120) as engine:
        events = engine.synthesize(PREVIEW_TEXTS["ja"], voice.engine_voice, max_seconds=8, language="ja")
        pcm = b"".join(event.pcm for event in events if isinstance(event, Audio))
    assert wav[44:] == pcm
