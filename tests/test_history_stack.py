"""The history through the real stack (issue 15): one generation from each source — the Studio,
the API, the legacy route and /v1 when it is mounted — listed for its owner by the repo SDK (sync
and async, every page), each downloaded and decoded with ffmpeg; a stranger's token sees none and
gets 404 for each one's audio."""

import asyncio
import io

import httpx
import pytest
import srt
import webvtt
from django.test import Client
from outeai import AsyncOuteAI, OuteAI, OuteAIAPIError

from accounts.services import token_create
from studio.models import Generation
from studio.services import session_create
from tests.audio_checks import audio_decoded_wav, audio_probe, wav_info
from tests.waiting import generation_wait_finished

pytestmark = pytest.mark.stack

CSRF = "h" * 32
TEXT = "The history keeps every take."
TIMEOUT = 180


def _one_of_each_source(web_url: str, user, secret: str, voice) -> set[str]:
    """Makes a generation through each door of the running web process; the sources it made."""
    bearer = {"Authorization": f"Bearer {secret}"}
    page = Client()
    page.force_login(user)
    session = session_create(owner=user)
    studio = httpx.post(
        f"{web_url}/studio/sessions/{session.id}/generations",
        json={"text": f"{TEXT} From the Studio.", "voice_id": str(voice.id)},
        headers={
            "Cookie": f"sessionid={page.cookies['sessionid'].value}; csrftoken={CSRF}",
            "X-CSRFToken": CSRF,
            "Origin": web_url,
        },
        timeout=TIMEOUT,
    )
    assert studio.status_code == 201, studio.text
    api = httpx.post(
        f"{web_url}/api/v1/tts_non_stream",
        json={"text": f"{TEXT} From the API.", "voice_id": str(voice.id), "model_name": "outetts_1_pro"},
        headers=bearer,
        timeout=TIMEOUT,
    )
    assert api.status_code == 200, api.text
    legacy = httpx.post(
        f"{web_url}/api/v1/tts",
        json={"token": secret, "text": f"{TEXT} From the old route.", "speaker": {"default": voice.speaker_name}},
        timeout=TIMEOUT,
    )
    assert legacy.status_code == 200 and '"request_finished": true' in legacy.text, legacy.text[-300:]
    sources = {"studio", "api", "legacy_api"}
    # /v1/audio/speech is another helper's (issue 15's OPENAI): counted here once it is mounted.
    openai = httpx.post(
        f"{web_url}/v1/audio/speech",
        json={"model": "tts-1", "input": f"{TEXT} From the OpenAI door.", "voice": "alloy", "response_format": "wav"},
        headers=bearer,
        timeout=TIMEOUT,
    )
    if openai.status_code == 200:
        sources.add("openai")
    else:
        assert openai.status_code == 404, openai.text
    generation_wait_finished(studio.json()["generation"]["id"])
    return sources


def test_every_source_is_listed_for_its_owner_downloads_and_is_nobody_elses(
    transactional_db, web_url, user, other_user, builtin_voices, tmp_path
):
    voice = builtin_voices["EN-FEMALE-1-NEUTRAL"]
    secret = token_create(user=user, name="history")[1]
    sources = _one_of_each_source(web_url, user, secret, voice)

    with OuteAI(secret, base_url=web_url, timeout=TIMEOUT) as client:
        items = list(client.iter_generations(limit=1))  # a page an item: the cursor's every step
        first = client.list_generations(limit=2)
        assert first.has_more is (len(items) > 2) and [i["id"] for i in first.items] == [i["id"] for i in items[:2]]
        assert {item["source"] for item in items} == sources and len(items) == len(sources)
        assert len({item["id"] for item in items}) == len(items)
        assert [item["created_at"] for item in items] == sorted((i["created_at"] for i in items), reverse=True)
        for item in items:
            row = Generation.objects.get(id=item["id"])
            assert row.user_id == user.id and item["status"] == "done" and item["voice"]["id"] == str(voice.id)
            assert item["seconds"] > 0.5 and float(item["cost"]) > 0
            saved = client.download_generation(item["id"], tmp_path / f"{item['source']}.wav")
            data = saved.read_bytes()
            assert audio_probe(data, "wav")["streams"][0]["codec_name"] == "pcm_s16le"
            rate, channels, _, seconds = wav_info(audio_decoded_wav(data, "wav"))
            assert (rate, channels) == (24_000, 1) and seconds == pytest.approx(item["seconds"], abs=0.05)
            # Its captions, from when each word is said: the whole text, within the audio.
            cues = list(srt.parse(client.generation_captions(item["id"])))
            assert " ".join(cue.content.replace("\n", " ") for cue in cues) == item["text"]
            assert cues[0].start.total_seconds() >= 0 and cues[-1].end.total_seconds() <= seconds + 1e-3
        ranged = httpx.get(items[0]["audio_url"], headers={"Authorization": f"Bearer {secret}", "Range": "bytes=0-99"})
        assert ranged.status_code == 206 and len(ranged.content) == 100

    async def listed_async() -> tuple[list[str], bytes]:
        async with AsyncOuteAI(secret, base_url=web_url, timeout=TIMEOUT) as client:
            ids = [item["id"] async for item in client.iter_generations(limit=2)]
            buffer = io.BytesIO()
            await client.download_generation(ids[-1], buffer)
            vtt = await client.generation_captions(ids[-1], format="vtt")
            assert vtt.startswith("WEBVTT") and len(webvtt.from_buffer(io.StringIO(vtt)).captions) >= 1
            return ids, buffer.getvalue()

    async_ids, oldest = asyncio.run(listed_async())
    assert async_ids == [item["id"] for item in items]
    assert wav_info(audio_decoded_wav(oldest, "wav"))[3] == pytest.approx(items[-1]["seconds"], abs=0.05)

    stranger = token_create(user=other_user, name="stranger")[1]
    with OuteAI(stranger, base_url=web_url, timeout=TIMEOUT) as client:
        assert client.list_generations().items == []
        for item in items:
            refused = httpx.get(item["audio_url"], headers={"Authorization": f"Bearer {stranger}"})
            assert refused.status_code == 404 and refused.json()["code"] == "NOT_FOUND"
            assert item["text"] not in refused.text
        with pytest.raises(OuteAIAPIError) as raised:
            client.download_generation(items[0]["id"], tmp_path / "stolen.wav")
        assert raised.value.status_code == 404 and not (tmp_path / "stolen.wav").exists()
        with pytest.raises(OuteAIAPIError) as raised:
            client.generation_captions(items[0]["id"])
        assert raised.value.status_code == 404
