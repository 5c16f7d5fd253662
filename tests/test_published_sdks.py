"""The server driven by the SDKs its users already have: `outeai[async]==2.0.0` and the legacy
`outeai==0.2.1`, each installed from PyPI into a virtualenv of its own (they share a package name),
running their documented calls against the live stack."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile

from accounts.services import token_create, token_revoke
from studio.models import Generation
from tests.audio_checks import rms_dbfs, transcribe, wav_info, word_error_rate

pytestmark = pytest.mark.stack

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = {"2.0.0": "outeai[async]==2.0.0", "0.2.1": "outeai==0.2.1"}


def published_sdk_python(version: str) -> Path:
    """A virtualenv with the published SDK, made once and kept under .venv-published/."""
    venv = ROOT / ".venv-published" / version
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", PUBLISHED[version]], check=True)
        (venv / ".installed").touch()
    return python


def run_scenario(version: str, script: str, *args: str) -> dict:
    result = subprocess.run(
        [str(published_sdk_python(version)), str(ROOT / "tests" / "published_sdk" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_speech(path: str, text: str | None = None) -> float:
    wav = Path(path).read_bytes()
    rate, channels, width, seconds = wav_info(wav)
    assert (rate, channels, width) == (24_000, 1, 2), path
    assert seconds > 0.5 and rms_dbfs(wav) > -35, path
    if text:
        assert word_error_rate(text, transcribe(wav)) <= 0.35, path
    return seconds


def test_outeai_2_sdk_every_documented_call(transactional_db, web_url, user, builtin_voices):
    _, secret = token_create(user=user, name="sdk 2.0.0")
    revoked, revoked_secret = token_create(user=user, name="revoked")
    token_revoke(user=user, token_id=revoked.id)

    report = run_scenario("2.0.0", "outeai_2.py", web_url, secret, revoked_secret)

    assert report["health"]["success"] is True
    assert {v["speaker_name"] for v in report["voices"]} >= {"EN-FEMALE-1-NEUTRAL", "EN-MALE-1-NEUTRAL"}
    assert report["generate"]["content_type"] == "audio/wav"
    # The README's own sentence; "OuteAI" is no word of the recogniser's, so it is heard, not scored.
    assert_speech(report["generate"]["path"])
    assert_speech(report["generate_to_file"], "We will meet at the station at noon and take the train to the city.")
    assert report["stream"]["chunks"] >= 2, "the stream arrived in one piece"
    assert_speech(report["stream"]["path"])
    for path in report["stream_to_file"] + report["async"]["paths"]:
        assert_speech(path)
    assert report["async"]["chunks"] >= 1

    errors = report["errors"]
    assert errors["unknown_voice"] == {
        "status": 404,
        "code": "NOT_FOUND",
        "message": errors["unknown_voice"]["message"],
    }
    assert (errors["unknown_model"]["status"], errors["unknown_model"]["code"]) == (400, "VALIDATION_ERROR")
    assert (errors["too_long"]["status"], errors["too_long"]["code"]) == (400, "VALIDATION_ERROR")
    assert (errors["stream_unknown_voice"]["status"], errors["stream_unknown_voice"]["code"]) == (404, "NOT_FOUND")
    assert report["revoked"] == {"status": 401, "code": "UNAUTHORIZED"}
    assert Generation.objects.filter(status="done", source="api").count() == 8


def test_legacy_outeai_0_2_tts_client(transactional_db, web_url, user, builtin_voices):
    _, secret = token_create(user=user, name="legacy sdk")
    report = run_scenario("0.2.1", "outeai_0_2.py", web_url, secret)
    audio, rate = soundfile.read(report["path"], dtype="int16")
    assert rate == 24_000 and audio.ndim == 1 and len(audio) / rate > 1.0
    assert "401" in report["bad_token"]
    assert Generation.objects.get().source == "legacy_api"
