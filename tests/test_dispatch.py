"""Fair dispatch from the rows (studio.job.claim, studio.job.sweep) on the tests' PostgreSQL. The
generations are written straight into the table, with no bell rung, so no worker of the suite's
stack hears of them."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from studio.job.claim import account_turn_open, account_wants_worker, job_claim, jobs_claimable
from studio.job.sweep import generations_sweep
from studio.models import AccountTurn, Generation
from tests.conftest import account_make


@pytest.fixture(autouse=True)
def _share(settings):
    settings.GENERATION_ACCOUNT_CONCURRENCY = 2


def queue(user, count: int) -> list:
    account_turn_open(user_id=user.id)
    return [Generation.objects.create(user=user, voice_name="Joe", text=f"text {i}").id for i in range(count)]


def claim(worker: str = "test:1"):
    generation = job_claim(worker=worker)
    return None if generation is None else generation.id


def end(generation_id) -> None:
    Generation.objects.filter(id=generation_id).update(status=Generation.Status.DONE, worker="")


def test_a_flooding_account_runs_its_share_and_a_newcomer_goes_next(user, other_user):
    flood = queue(user, 50)
    first, second = claim(), claim()
    assert [first, second] == flood[:2]
    assert claim() is None, "the account runs its share (2) and no more"
    assert jobs_claimable() == 0
    running = Generation.objects.get(id=first)
    assert running.status == "running" and running.worker == "test:1" and running.claimed_at and running.attempts == 1

    (newcomer,) = queue(other_user, 1)
    assert jobs_claimable() == 1
    assert claim() == newcomer, "the other account does not wait behind the 48"

    end(first)
    assert claim() == flood[2], "a freed place goes back to the flooding account's next"


def test_accounts_take_turns_and_a_lone_account_gets_every_place(user, other_user):
    a, b = queue(user, 3), queue(other_user, 3)
    order = []
    while (claimed := claim()) is not None:
        order.append(claimed)
        end(claimed)
    assert order == [a[0], b[0], a[1], b[1], a[2], b[2]]

    lone = queue(account_make("lone@example.com"), 3)
    assert [claim() for _ in range(2)] == lone[:2]


def test_a_bell_is_rung_only_for_work_that_may_run_now(user):
    queue(user, 1)
    assert account_wants_worker(user_id=user.id)
    queue(user, 1)
    assert account_wants_worker(user_id=user.id), "two unfinished: both within the share"
    queue(user, 1)
    assert not account_wants_worker(user_id=user.id), "the third waits for one of the two to end"


def test_a_cancelled_generation_is_never_claimed(user):
    cancelled, kept = queue(user, 2)
    Generation.objects.filter(id=cancelled).update(status=Generation.Status.CANCELLED)
    assert claim() == kept
    assert claim() is None


def test_a_dead_workers_job_is_given_back_by_the_sweep_and_goes_before_the_accounts_new_work(user):
    dead, *new = queue(user, 3)
    assert claim("dead:1") == dead
    assert claim("live:1") == new[0]
    Generation.objects.filter(id=dead).update(heartbeat_at=timezone.now() - timedelta(seconds=30))
    assert claim() is None, "the dead worker's job still counts in the share until the sweep"

    counts = generations_sweep()
    assert counts["given_back"] == 1 and counts["bells"] == 1
    given_back = Generation.objects.get(id=dead)
    assert given_back.status == "queued" and given_back.worker == ""
    assert claim("live:2") == dead, "given back, it goes before the account's new work"
    assert Generation.objects.get(id=dead).attempts == 2


def test_the_sweep_ends_work_nobody_took_in_time(user):
    (waiting,) = queue(user, 1)
    Generation.objects.filter(id=waiting).update(created_at=timezone.now() - timedelta(hours=1))
    assert generations_sweep()["given_up"] == 1
    ended = Generation.objects.get(id=waiting)
    assert ended.status == "failed" and ended.error_code == "TTS_PROVIDER_UNAVAILABLE"


@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="the row locks are PostgreSQL's")
def test_workers_claiming_at_once_never_run_an_account_beyond_its_share(transactional_db):
    """Eight workers claim at the same moment, round after round: the flooding account never runs
    more than its share, and the other accounts get the other places."""
    flooder, *others = (account_make(f"claim{i}@example.com") for i in range(4))
    flood = queue(flooder, 40)
    for other in others:
        queue(other, 20)
    for _ in range(10):
        start = threading.Barrier(8)
        claimed: list = []

        def work(i: int, start: threading.Barrier = start, claimed: list = claimed) -> None:
            start.wait()
            try:
                claimed.append(job_claim(worker=f"worker:{i}"))
            finally:
                connection.close()

        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        running = Generation.objects.filter(status=Generation.Status.RUNNING)
        per_account = {account.id: running.filter(user=account).count() for account in (flooder, *others)}
        assert max(per_account.values()) <= 2, per_account
        assert len([c for c in claimed if c]) == running.count() == 8, "every account got its share"
        assert len(set(running.values_list("worker", flat=True))) == 8, "no job claimed twice"
        for generation_id in running.values_list("id", flat=True):
            end(generation_id)
    assert Generation.objects.filter(id__in=flood, status="done").count() == 20
    assert AccountTurn.objects.filter(user=flooder, served_at__isnull=False).exists()


def test_a_job_whose_worker_died_after_its_last_chunk_ends_without_the_engine(user, builtin_voices):
    """The worker relayed every chunk, then died before the end (or its end waited past the
    heartbeat): the job taken again ends with the audio relayed, billed for it, and asks no engine
    to go on after the last chunk (none answers in this test: ENGINE_URL is a closed port)."""
    from studio.job.run import _job_run
    from studio.relay import RelayWriter
    from studio.services import generation_create

    generation = generation_create(user=user, text="One. Two.", voice_id=builtin_voices["EN-MALE-1-NEUTRAL"].id)
    assert claim("dead:1") == generation.id
    Generation.objects.filter(id=generation.id).update(chunk=2, chunks=2)
    pcm = b"\x10\x00" * 24_000  # one second, both chunks
    RelayWriter(generation.id).audio(pcm, chunks_done=2)
    Generation.objects.filter(id=generation.id).update(heartbeat_at=timezone.now() - timedelta(seconds=30))
    assert generations_sweep()["given_back"] == 1

    again = job_claim(worker="live:1")
    assert again is not None and again.id == generation.id and again.attempts == 2
    _job_run(again, worker="live:1")
    done = Generation.objects.get(id=generation.id)
    assert (done.status, done.error) == (Generation.Status.DONE, "")
    assert done.seconds == pytest.approx(1.0)
    assert done.cost == 1_000  # micro-credits: one second at 0.001 credits


def test_a_claimed_job_comes_with_its_voice_and_without_one_deleted_meanwhile(
    user, builtin_voices, django_assert_num_queries
):
    voice = builtin_voices["EN-MALE-1-NEUTRAL"]
    account_turn_open(user_id=user.id)
    spoken = Generation.objects.create(user=user, voice=voice, voice_name=voice.speaker_name, text="one")
    orphan = Generation.objects.create(user=user, voice=None, voice_name="a deleted clone", text="two")
    first = job_claim(worker="test:1")
    assert first is not None
    with django_assert_num_queries(0):  # the job reads its voice with no query of its own
        assert first.id == spoken.id and first.voice is not None and first.voice.engine_voice == voice.engine_voice
    second = job_claim(worker="test:2")
    assert second is not None
    with django_assert_num_queries(0):
        assert second.id == orphan.id and second.voice is None
