"""The pronunciation dictionary heard through the running stack (uvicorn, a Celery worker, the CPU
engine): a rule for a made-up name changes what an independent recogniser (pocketsphinx) hears."""

import httpx
import pytest

from accounts.services import token_create
from tests.audio_checks import normalize_text, transcribe

pytestmark = pytest.mark.stack

TEXT = "Please ring the Zorblax twice."


@pytest.fixture
def api(transactional_db, web_url, user, builtin_voices):
    secret = token_create(user=user, name="stack tests")[1]
    with httpx.Client(base_url=web_url, headers={"Authorization": f"Bearer {secret}"}, timeout=120) as client:
        yield client


def heard(api: httpx.Client, builtin_voices, text: str) -> list[str]:
    body = {"text": text, "voice_id": str(builtin_voices["EN-FEMALE-1-NEUTRAL"].id), "model_name": "outetts_1_pro"}
    response = api.post("/api/v1/tts_non_stream", json=body)
    assert response.status_code == 200, response.text
    return normalize_text(transcribe(response.content)).split()


def test_a_rule_for_a_made_up_name_changes_what_a_listener_hears(api, builtin_voices):
    # Measured: without a rule pocketsphinx hears "please bring the full backs wife"; the words
    # "door bell" said plainly it hears as "doorbell", so the words are compared run together.
    before = heard(api, builtin_voices, TEXT)
    assert "doorbell" not in "".join(before), before

    created = api.post("/api/v1/pronunciations", json={"match": "zorblax", "alias": "door bell"})
    assert created.status_code == 201, created.text
    after = heard(api, builtin_voices, TEXT)
    assert "doorbell" in "".join(after), after
    assert {"ring", "twice"} & set(after), after  # the rest of the sentence is said as before

    # Deleted, the rule no longer applies.
    api.delete(f"/api/v1/pronunciations/{created.json()['data']['pronunciation_id']}")
    assert "doorbell" not in "".join(heard(api, builtin_voices, TEXT))
