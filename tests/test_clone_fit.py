"""A clone improves in the background: usable at once from the engine's quick profile, then fitted
on a queue of its own by the fitter process (as the Procfile runs it), its progress sent live to
its owner only, the better profile kept (held-out), charged once, and the reference recording
deleted once the fit ends however it ends."""

import json
import os
import threading
import time
from datetime import timedelta
from unittest import mock

import httpx
import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from accounts.services import token_create
from billing.models import LedgerEntry
from billing.selectors import ledger_sum, wallet_for
from core.audio import wav_from_pcm
from tests.audio_checks import rms_dbfs, transcribe, wav_info, word_error_rate
from tests.conftest import private_stack
from tests.reference_clips import clip, to_wav
from tests.waiting import wait_for
from voices.models import Voice
from voices.reference import reference_prepare
from voices.services import _fit_end, voice_fit, voice_fits_sweep
from voices.tasks import voice_fits_sweep_task

# Small, so a test's fit takes about a minute of a shared CPU (the search then rarely gets past
# its start: "kept"); the product's default is 120 s. OUTEAI_TEST_FIT_SECONDS=150 lets it improve.
FIT_SECONDS = int(os.environ.get("OUTEAI_TEST_FIT_SECONDS", "30"))
SPEECH_TEXT = "The train leaves the station at noon."


@pytest.fixture(scope="module")
def fit_stack(django_db_setup, engine_url):
    """Web, worker and fitter of their own, with fits on."""
    with private_stack(engine_url, fitter=True, extra_env={"VOICE_FIT_SECONDS": str(FIT_SECONDS)}) as (
        web_url,
        processes,
    ):
        yield web_url, processes[-1], processes[0]  # the fitter is the last one started, the worker first


def _api(web_url: str, user) -> httpx.Client:
    _, secret = token_create(user=user, name="fits")
    return httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {secret}"}, timeout=180)


class _Listener:
    """A signed-in browser's clone-page socket, heard in the background."""

    def __init__(self, web_url: str, user) -> None:
        client = Client()
        client.force_login(user)
        self.socket = connect(
            web_url.replace("http", "ws") + "/ws/voices/",
            additional_headers={"Cookie": f"sessionid={client.cookies['sessionid'].value}", "Origin": web_url},
            open_timeout=30,
        )
        self.heard: list[dict] = []
        self.thread = threading.Thread(target=self._listen, daemon=True)
        self.thread.start()

    def _listen(self) -> None:
        try:
            for message in self.socket:
                self.heard.append(json.loads(message))
        except ConnectionClosed:
            pass

    def fits(self, voice_id: str) -> list[dict]:
        return [e["voice"] for e in self.heard if e["type"] == "voice.fit" and e["voice"]["voice_id"] == voice_id]

    def close(self) -> None:
        self.socket.close()
        self.thread.join(timeout=5)


def _clone(api: httpx.Client, name: str, speaker: str = "slt") -> dict:
    response = api.post(
        "/api/v1/voice-clones", data={"speaker_name": name}, files={"audio": ("me.wav", to_wav(*clip(speaker, 8)))}
    )
    assert response.status_code == 201, response.text
    return response.json()["data"]


def _speech(voice: str) -> dict:
    return {"text": SPEECH_TEXT, "voice_id": voice, "model_name": "outetts_1_pro"}


def _listed(api: httpx.Client, voice_id: str) -> dict | None:
    clones = api.get("/api/v1/voice-clones").json()["data"]["voice_clones"]
    return next((c for c in clones if c["voice_id"] == voice_id), None)


@pytest.mark.stack
def test_a_clone_is_usable_at_once_then_improves_on_its_own_queue(
    fit_stack, transactional_db, builtin_voices, user, other_user
):
    web_url, fitter, worker = fit_stack
    owner_page, stranger_page = _Listener(web_url, user), _Listener(web_url, other_user)
    with _api(web_url, user) as api, _api(web_url, other_user) as stranger:
        # Joe with no fit running, for comparison (and warm).
        sent = time.monotonic()
        assert api.post("/api/v1/tts_non_stream", json=_speech("EN-MALE-1-NEUTRAL")).status_code == 200
        idle_seconds = time.monotonic() - sent
        created_at = time.monotonic()
        data = _clone(api, "Stella")
        voice_id = data["voice_id"]
        assert data["fit"]["status"] == "queued"
        voice = Voice.objects.get(id=voice_id)
        quick_profile, reference_name = voice.profile, voice.reference.name
        # The normalised recording is stored while the fit waits or runs, and only then.
        assert reference_name and voice.reference.storage.exists(reference_name)

        # Usable at once, from the quick profile.
        speech = api.post("/api/v1/tts_non_stream", json=_speech(voice_id))
        assert speech.status_code == 200, speech.text
        assert wav_info(speech.content)[:3] == (24_000, 1, 2) and rms_dbfs(speech.content) > -40

        # The fitter takes it; a speech job sent meanwhile does not wait behind it.
        wait_for(lambda: Voice.objects.get(id=voice_id).fit_status == "fitting", timeout=120, what="the fit starts")
        wait_for(lambda: Voice.objects.get(id=voice_id).fit_progress > 0, timeout=120, what="the fit's progress")
        sent = time.monotonic()
        joe = api.post("/api/v1/tts_non_stream", json=_speech("EN-MALE-1-NEUTRAL"))
        speech_seconds = time.monotonic() - sent
        assert joe.status_code == 200
        assert word_error_rate(SPEECH_TEXT, transcribe(joe.content)) <= 0.4
        during = Voice.objects.get(id=voice_id)
        assert during.fit_status == "fitting", f"the speech job took {speech_seconds:.1f} s: the fit ended first"
        listed = _listed(api, voice_id)
        assert listed["fit"]["status"] == "fitting" and 0 < listed["fit"]["progress"] < 1
        # A stranger cannot read it through the API.
        assert _listed(stranger, voice_id) is None

        wait_for(
            lambda: Voice.objects.get(id=voice_id).fit_status in ("improved", "kept"),
            timeout=FIT_SECONDS + 240,
            what="the fit ends",
        )
        fit_seconds = time.monotonic() - created_at
        print(
            f"Joe's sentence: {idle_seconds:.2f} s idle, {speech_seconds:.2f} s during the fit; "
            f"clone to fit's end: {fit_seconds:.0f} s"
        )

    voice = Voice.objects.get(id=voice_id)
    print(f"fit: {voice.fit_status}, {voice.fit_scores}")
    # The recording is gone, from the row and from storage.
    assert not voice.reference and not voice.reference.storage.exists(reference_name)
    # Held-out scores of both; the fitted profile only if it won.
    assert voice.fit_scores and voice.fit_progress == 1.0 and voice.fit_finished_at
    if voice.fit_status == "improved":
        assert voice.profile != quick_profile
        # Its preview was of the quick profile: it is recorded again.
        wait_for(lambda: Voice.objects.get(id=voice_id).preview, timeout=120, what="the improved clone's preview")
    else:
        assert voice.profile == quick_profile
    # The fitter ran it; the worker, which runs speech jobs, never took it.
    assert "voices.fit[" in fitter.log_path.read_text(errors="replace")
    assert "voices.fit[" not in worker.log_path.read_text(errors="replace")
    # Charged once, at creation.
    assert list(LedgerEntry.objects.filter(voice_id=voice_id).values_list("kind", "amount")) == [("clone", -25_000)]
    assert wallet_for(user).balance == ledger_sum(user)

    # The owner's page heard it live, in order; the stranger's heard nothing of it.
    wait_for(lambda: owner_page.fits(voice_id) and owner_page.fits(voice_id)[-1]["status"] == voice.fit_status)
    heard = owner_page.fits(voice_id)
    progress = [e["progress"] for e in heard if e["status"] == "fitting"]
    assert len(progress) >= 2 and progress == sorted(progress) and progress[-1] > 0
    assert heard[-1]["scores"] == voice.fit_scores
    owner_page.close()
    stranger_page.close()
    assert stranger_page.fits(voice_id) == [] and not stranger_page.heard
    # Nor through the page.
    page = Client()
    page.force_login(other_user)
    assert voice_id not in page.get(reverse("voices:clones")).content.decode()
    # The owner's clone page says how it went.
    page.force_login(user)
    said = {"improved": "Improved", "kept": "Kept as it was"}[voice.fit_status]
    assert said in page.get(reverse("voices:clones")).content.decode()


@pytest.mark.stack
def test_deleting_a_clone_mid_fit_stops_the_fit_and_leaves_no_file(fit_stack, transactional_db, user):
    web_url, fitter, _ = fit_stack
    with _api(web_url, user) as api:
        voice_id = _clone(api, "Kal", speaker="kal")["voice_id"]
        reference_name = Voice.objects.get(id=voice_id).reference.name
        wait_for(lambda: Voice.objects.get(id=voice_id).fit_progress > 0, timeout=120, what="the fit runs")
        deleted_at = time.monotonic()
        assert api.delete(f"/api/v1/voice-clones/{voice_id}").status_code == 200
        wait_for(
            lambda: f"voice fit {voice_id} stopped" in fitter.log_path.read_text(errors="replace"),
            timeout=60,
            what="the fit stops",
        )
        print(f"the fit stopped {time.monotonic() - deleted_at:.1f} s after the clone was deleted")
    assert not Voice.objects.filter(id=voice_id).exists()
    assert not Voice._meta.get_field("reference").storage.exists(reference_name)


@pytest.mark.stack
def test_no_one_signed_out_may_listen(fit_stack):
    web_url, _, _ = fit_stack
    with pytest.raises(InvalidStatus):
        connect(web_url.replace("http", "ws") + "/ws/voices/", additional_headers={"Origin": web_url}, open_timeout=30)


def _fitting_clone(user, *, heartbeat_ago: timedelta) -> Voice:
    voice = Voice.objects.create(
        speaker_name="Swept", kind=Voice.Kind.CLONE, owner=user, profile={"version": 1}, fit_status="fitting"
    )
    voice.reference.save(f"{voice.id}.wav", ContentFile(wav_from_pcm(b"\0\0" * 24_000)), save=False)
    Voice.objects.filter(id=voice.id).update(
        reference=voice.reference.name, fit_heartbeat_at=timezone.now() - heartbeat_ago
    )
    return Voice.objects.get(id=voice.id)


def test_a_fit_whose_worker_died_is_swept_and_its_reference_deleted(transactional_db, user):
    dead = _fitting_clone(user, heartbeat_ago=timedelta(minutes=5))
    alive = _fitting_clone(user, heartbeat_ago=timedelta(seconds=5))
    assert voice_fits_sweep() == {"stale": 1, "never_taken": 0}
    dead_now, alive_now = Voice.objects.get(id=dead.id), Voice.objects.get(id=alive.id)
    assert dead_now.fit_status == "failed" and dead_now.profile == {"version": 1} and not dead_now.reference
    assert not dead.reference.storage.exists(dead.reference.name)
    # A fit still heard from goes on, its recording with it.
    assert alive_now.fit_status == "fitting" and alive.reference.storage.exists(alive.reference.name)
    alive.delete()
    # The worker's beat runs this sweep (the task it names is the one that runs it).
    assert settings.CELERY_BEAT_SCHEDULE["voice-fits-sweep"]["task"] == voice_fits_sweep_task.name


def _kokoro_clone(user, **fields) -> Voice:
    from engine.kokoro_profile import quick_profile

    profile = quick_profile(female=True, median_hz=190.0, syllables_per_second=4.0).to_json()
    return Voice.objects.create(
        speaker_name="Stella", kind=Voice.Kind.CLONE, owner=user, profile=profile, gender="female", **fields
    )


def test_a_fit_that_fails_keeps_the_quick_profile_and_deletes_the_recording(transactional_db, user, caplog):
    # No engine answers this process (config/settings/test.py): the fit's first sentence fails.
    voice = _kokoro_clone(user, fit_status="queued")
    recording = wav_from_pcm(reference_prepare(to_wav(*clip("slt", 8))).pcm)
    voice.reference.save(f"{voice.id}.wav", ContentFile(recording), save=True)
    name, quick = voice.reference.name, voice.profile
    assert voice_fit(voice_id=str(voice.id)) == "failed"
    assert "no speech engine is available" in caplog.text
    voice.refresh_from_db()
    assert voice.fit_status == "failed" and voice.profile == quick and voice.fit_label == "kept as it was"
    assert not voice.reference and not voice.reference.storage.exists(name)
    # A second delivery of the same message does nothing.
    assert voice_fit(voice_id=str(voice.id)) == "failed"


def test_an_improved_clone_gets_its_new_profile_and_a_new_preview(transactional_db, user):
    voice = _kokoro_clone(user, fit_status="fitting", fit_heartbeat_at=timezone.now())
    voice.preview.save(f"{voice.id}.wav", ContentFile(wav_from_pcm(b"\0\0" * 2400)), save=True)
    old_preview = voice.preview.name
    fitted = voice.profile | {"f0_scale": round(voice.profile["f0_scale"] * 1.05, 4)}
    scores = {"start": {"similarity": 0.7}, "fitted": {"similarity": 0.75}}
    with mock.patch("voices.services.voice_preview_request") as preview_request:
        assert _fit_end(voice, status="improved", profile=fitted, scores=scores) == "improved"
    voice.refresh_from_db()
    assert voice.profile == fitted and voice.fit_scores == scores and voice.fit_label == "improved"
    # The preview of the quick profile is gone and a new one asked for, past any request in flight.
    assert not voice.preview and not voice.preview.storage.exists(old_preview)
    preview_request.assert_called_once()
    assert preview_request.call_args.kwargs == {"again": True}


def test_the_clone_page_and_the_studios_selector_say_how_the_fit_goes(client, user, other_user):
    from studio.services import session_create

    voice = _kokoro_clone(user, fit_status="fitting", fit_progress=0.42)
    session = session_create(owner=user)
    client.force_login(user)
    assert "Improving your voice… 42%" in client.get(reverse("voices:clones")).content.decode()
    studio = client.get(reverse("studio:session_detail", args=[session.id])).content.decode()
    assert f'data-fit-voice="{voice.id}"' in studio and "clone · improving your voice… 42%" in studio
    Voice.objects.filter(id=voice.id).update(fit_status="kept", fit_progress=1.0)
    assert "Kept as it was" in client.get(reverse("voices:clones")).content.decode()
    # Another account's pages never show it.
    client.force_login(other_user)
    assert str(voice.id) not in client.get(reverse("voices:clones")).content.decode()
