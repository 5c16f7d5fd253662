"""One account's flood does not hold back another account, through the running stack: the web,
the suite's worker (three processes, an account's share two) and the engine (places taken chunk by
chunk, by turns between accounts)."""

import threading

import httpx
import pytest

from accounts.services import token_create
from studio.models import Generation
from tests.audio_checks import wav_info
from tests.waiting import wait_for

pytestmark = pytest.mark.stack

TEXT = "Good morning to you. The meeting starts at ten o'clock. Please bring your notes with you."
FLOOD = 12


def test_a_flooding_account_does_not_hold_back_another(transactional_db, web_url, builtin_voices, user, other_user):
    flooder = token_create(user=user, name="flood")[1]
    other = token_create(user=other_user, name="one")[1]

    def speak(secret: str) -> httpx.Response:
        return httpx.post(
            f"{web_url}/api/v1/tts_non_stream",
            json={"text": TEXT, "voice": "EN-MALE-1-NEUTRAL", "model": "outetts_1_pro"},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=300,
        )

    answers: list[httpx.Response] = []
    flood = [threading.Thread(target=lambda: answers.append(speak(flooder))) for _ in range(FLOOD)]
    for thread in flood:
        thread.start()
    try:
        wait_for(lambda: Generation.objects.filter(user=user).count() == FLOOD, what="the flood stored")
        answer = speak(other)
        assert answer.status_code == 200 and wav_info(answer.content)[3] > 3
        # The other account's speech came while most of the flood still waited: with one queue for
        # everyone it would have come after all twelve.
        unfinished = Generation.objects.filter(user=user, finished_at__isnull=True).count()
        assert unfinished >= FLOOD // 2, f"only {unfinished} of the flood were still waiting"
    finally:
        for thread in flood:
            thread.join()
    assert [a.status_code for a in answers] == [200] * FLOOD, "the flood is served in full, only later"
    running_at_once = Generation.objects.filter(user=user).values_list("started_at", "finished_at")
    assert max(sum(1 for s, f in running_at_once if s <= t < f) for t, _ in running_at_once) <= 2, (
        "an account runs at most its share at once"
    )
