"""Fair dispatch (studio.dispatch) on the real Redis, under a key prefix of each test's own, so the
suite's running worker never claims what these tests queue."""

import time
import uuid

import pytest

from studio.dispatch import Enqueued, dispatch_claim, dispatch_claimable, dispatch_enqueue, dispatch_release

A, B, C = 101, 202, 303


@pytest.fixture(autouse=True)
def _own_keys(settings):
    settings.REDIS_KEY_PREFIX = f"dispatch-test-{uuid.uuid4().hex}"
    settings.GENERATION_ACCOUNT_CONCURRENCY = 2
    yield
    from core.redis import redis_client

    for key in redis_client().scan_iter(f"{settings.REDIS_KEY_PREFIX}:*"):
        redis_client().delete(key)


def enqueue(user_id: int, count: int) -> list[uuid.UUID]:
    ids = [uuid.uuid4() for _ in range(count)]
    for order, generation_id in enumerate(ids):
        dispatch_enqueue(user_id=user_id, generation_id=generation_id, order=time.time() + order)
    return ids


def claim():
    return dispatch_claim(lease_seconds=20)


def test_a_flooding_account_runs_its_share_and_a_newcomer_goes_next():
    flood = enqueue(A, 50)
    first, second = claim(), claim()
    assert [first.generation_id, second.generation_id] == flood[:2]
    assert claim() is None, "the account runs its share (2) and no more"
    assert dispatch_claimable() == 0

    (newcomer,) = enqueue(B, 1)
    assert dispatch_claimable() == 1
    assert claim().generation_id == newcomer, "the other account does not wait behind the 48"

    dispatch_release(first)
    assert claim().generation_id == flood[2], "a freed place goes back to the flooding account's next"


def test_accounts_take_turns_and_a_lone_account_gets_every_place():
    a, b = enqueue(A, 3), enqueue(B, 3)
    order = []
    while (claimed := claim()) is not None:
        order.append(claimed.generation_id)
        dispatch_release(claimed)
    assert order == [a[0], b[0], a[1], b[1], a[2], b[2]]

    lone = enqueue(C, 3)
    assert [claim().generation_id for _ in range(2)] == lone[:2]


def test_enqueue_says_whether_a_worker_is_wanted_and_is_idempotent():
    first, second, third = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    assert dispatch_enqueue(user_id=A, generation_id=first, order=1.0) == Enqueued(added=True, runnable=True)
    assert dispatch_enqueue(user_id=A, generation_id=second, order=2.0) == Enqueued(added=True, runnable=True)
    assert dispatch_enqueue(user_id=A, generation_id=third, order=3.0) == Enqueued(added=True, runnable=False)
    again = dispatch_enqueue(user_id=A, generation_id=third, order=0.0)
    assert again == Enqueued(added=False, runnable=False), "already queued"
    assert claim().generation_id == first, "queuing it again did not move it ahead"


def test_a_job_given_back_goes_before_the_accounts_new_work():
    queued = enqueue(A, 2)
    given_back = uuid.uuid4()
    dispatch_enqueue(user_id=A, generation_id=given_back, order=0)
    assert claim().generation_id == given_back
    assert claim().generation_id == queued[0]


def test_a_dead_workers_place_frees_itself_when_its_lease_runs_out():
    enqueue(A, 3)
    dispatch_claim(lease_seconds=0.2)
    dispatch_claim(lease_seconds=0.2)
    assert claim() is None
    time.sleep(0.3)  # nobody renewed the leases: their workers are gone
    assert claim() is not None


def test_a_waiting_worker_is_woken_by_work_that_may_run_and_waits_alone():
    import threading

    from studio.dispatch import dispatch_wait

    woken = {}
    waiter = threading.Thread(target=lambda: woken.update(first=dispatch_wait(seconds=5)))
    waiter.start()
    time.sleep(0.3)
    assert dispatch_wait(seconds=5) is False, "a second worker does not wait beside the first"
    started = time.monotonic()
    enqueue(A, 1)
    waiter.join()
    assert woken["first"] is True and time.monotonic() - started < 1
    assert claim() is not None
